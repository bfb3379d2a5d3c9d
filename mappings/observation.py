from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import (
    end_of,
    first_of,
    last_instant,
    reference_of,
    start_of,
    tokens_of,
)

MAPPING = ResourceMapping(
    resource_type="Observation",
    table="observations",
    columns=(
        Column("status", "text", first_of("status")),
        Column("code", "text[]", tokens_of("code")),
        Column("subject", "text", reference_of("subject"), is_reference=True),
        Column("encounter", "text", reference_of("encounter"), is_reference=True),
        Column("effective_start", "timestamptz", start_of("effective[x]")),
        Column("effective_end", "timestamptz", end_of("effective[x]")),
    ),
    clinical_time=first_time(last_instant("effective[x]"), start_of("issued")),
    partition_param="date",
)
