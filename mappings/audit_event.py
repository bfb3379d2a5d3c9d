from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, first_token_of, references_of, start_of

MAPPING = ResourceMapping(
    resource_type="AuditEvent",
    table="audit_events",
    columns=(
        Column("type", "text", first_token_of("type")),
        Column("action", "text", first_of("action")),
        Column("outcome", "text", first_of("outcome")),
        Column("recorded", "timestamptz", start_of("recorded")),
        Column("agent", "text[]", references_of("agent.who")),
        Column("entity", "text[]", references_of("entity.what")),
    ),
    clinical_time=first_time(start_of("recorded")),
    partition_param="date",
)
