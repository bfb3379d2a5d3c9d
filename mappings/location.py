from mappings.base import Column, ResourceMapping
from mappings.extract import first_of, reference_of

MAPPING = ResourceMapping(
    resource_type="Location",
    table="locations",
    columns=(
        Column("status", "text", first_of("status")),
        Column("organization", "text", reference_of("managingOrganization"), is_reference=True),
    ),
)
