from mappings.base import Column, ResourceMapping
from mappings.extract import first_of, reference_of, text_first_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="Location",
    table="locations",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("name", "text", text_first_of("name")),
        Column("status", "text", first_of("status")),
        Column("organization", "text", reference_of("managingOrganization"), is_reference=True),
    ),
)
