from mappings.base import Column, ResourceMapping
from mappings.extract import first_of, reference_of, text_first_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="Organization",
    table="organizations",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("name", "text", text_first_of("name")),
        Column("active", "boolean", first_of("active")),
        Column("partof", "text", reference_of("partOf"), is_reference=True),
    ),
)
