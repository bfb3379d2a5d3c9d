from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import end_of, first_of, start_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="AuditEvent",
    table="audit_events",
    columns=(
        Column("action", "text", first_of("action")),
        Column("outcome", "text", first_of("outcome")),
        Column("recorded", "timestamptz", start_of("recorded")),
        Column("recorded_end", "timestamptz", end_of("recorded")),
        Column("type", "text[]", tokens_of("type")),
        Column("subtype", "text[]", tokens_of("subtype")),
    ),
    clinical_time=first_time(start_of("recorded")),
    partition_param="date",
)
