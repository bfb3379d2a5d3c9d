from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, start_of

MAPPING = ResourceMapping(
    resource_type="AuditEvent",
    table="audit_events",
    columns=(
        Column("action", "text", first_of("action")),
        Column("outcome", "text", first_of("outcome")),
        Column("recorded", "timestamptz", start_of("recorded")),
    ),
    clinical_time=first_time(start_of("recorded")),
    partition_param="date",
)
