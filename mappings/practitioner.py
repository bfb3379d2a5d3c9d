from mappings.base import ResourceMapping

MAPPING = ResourceMapping(
    resource_type="Practitioner",
    table="practitioners",
    columns=(
    ),
)
