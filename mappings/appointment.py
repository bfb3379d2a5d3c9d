from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, reference_of, start_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="Appointment",
    table="appointments",
    columns=(
        Column("identifiers", "text[]", tokens_of("identifier")),
        Column("status", "text", first_of("status")),
        Column("start_ts", "timestamptz", start_of("start")),
        Column("end_ts", "timestamptz", start_of("end")),
        Column("patient", "text", reference_of("participant.actor", "Patient"), is_reference=True),
        Column("practitioner", "text", reference_of("participant.actor", "Practitioner"), is_reference=True),
        Column("location", "text", reference_of("participant.actor", "Location"), is_reference=True),
    ),
    clinical_time=first_time(start_of("start"), start_of("created")),
    partition_param="date",
)
