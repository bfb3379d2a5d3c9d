from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, last_instant, reference_of

MAPPING = ResourceMapping(
    resource_type="Claim",
    table="claims",
    columns=(
        Column("status", "text", first_of("status")),
        Column("use", "text", first_of("use")),
        Column("patient", "text", reference_of("patient"), is_reference=True),
        Column("provider", "text", reference_of("provider"), is_reference=True),
    ),
    clinical_time=first_time(last_instant("created")),
    partition_param="created",
)
