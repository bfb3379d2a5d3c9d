from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import (
    end_of,
    first_of,
    last_instant,
    number_of,
    reference_of,
    start_of,
    tokens_of,
)

MAPPING = ResourceMapping(
    resource_type="Observation",
    table="observations",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("status", "text", first_of("status")),
        Column("category", "text[]", tokens_of("category")),
        Column("code", "text[]", tokens_of("code")),
        Column("subject", "text", reference_of("subject"), is_reference=True),
        Column("encounter", "text", reference_of("encounter"), is_reference=True),
        Column("effective_start", "timestamptz", start_of("effective[x]")),
        Column("effective_end", "timestamptz", end_of("effective[x]")),
        Column("value_num", "numeric", number_of("valueQuantity.value")),
        Column("value_unit", "text", first_of("valueQuantity.code")),
    ),
    clinical_time=first_time(last_instant("effective[x]"), start_of("issued")),
    partition_param="date",
)
