from mappings.base import Column, ResourceMapping
from mappings.extract import reference_of

MAPPING = ResourceMapping(
    resource_type="Organization",
    table="organizations",
    columns=(
        Column("partof", "text", reference_of("partOf"), is_reference=True),
    ),
)
