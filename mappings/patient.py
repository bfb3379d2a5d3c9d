from mappings.base import Column, ResourceMapping
from mappings.extract import (
    date_of,
    first_of,
    mrn_of,
    reference_of,
    text_first_of,
    tokens_of,
)

MAPPING = ResourceMapping(
    resource_type="Patient",
    table="patients",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("mrn", "text", mrn_of),
        Column("family", "text", text_first_of("name.family")),
        Column("given", "text", text_first_of("name.given")),
        Column("birth_date", "date", date_of("birthDate")),
        Column("birth_date_end", "date", date_of("birthDate", end=True)),
        Column("gender", "text", first_of("gender")),
        Column("active", "boolean", first_of("active")),
        Column("organization", "text", reference_of("managingOrganization"), is_reference=True),
    ),
)
