from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import (
    end_of,
    first_of,
    last_instant,
    reference_of,
    start_of,
)

MAPPING = ResourceMapping(
    resource_type="Encounter",
    table="encounters",
    columns=(
        Column("status", "text", first_of("status")),
        Column("subject", "text", reference_of("subject"), is_reference=True),
        Column("service_provider", "text", reference_of("serviceProvider"), is_reference=True),
        Column("period_start", "timestamptz", start_of("period")),
        Column("period_end", "timestamptz", end_of("period")),
    ),
    clinical_time=first_time(last_instant("period")),
    partition_param="date",
)
