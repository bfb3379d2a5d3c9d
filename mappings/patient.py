from mappings.base import Column, ResourceMapping
from mappings.extract import (
    date_of,
    first_of,
    mrn_of,
    reference_of,
)

MAPPING = ResourceMapping(
    resource_type="Patient",
    table="patients",
    columns=(
        Column("mrn", "text", mrn_of),
        Column("birth_date", "date", date_of("birthDate")),
        Column("birth_date_end", "date", date_of("birthDate", end=True)),
        Column("gender", "text", first_of("gender")),
        Column("organization", "text", reference_of("managingOrganization"), is_reference=True),
    ),
)
