from mappings.base import Column, ResourceMapping
from mappings.extract import first_of, text_first_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="Practitioner",
    table="practitioners",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("family", "text", text_first_of("name.family")),
        Column("given", "text", text_first_of("name.given")),
        Column("active", "boolean", first_of("active")),
    ),
)
