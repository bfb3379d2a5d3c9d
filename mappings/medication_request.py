from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, last_instant, reference_of, tokens_of

MAPPING = ResourceMapping(
    resource_type="MedicationRequest",
    table="medication_requests",
    columns=(
        Column("status", "text", first_of("status")),
        Column("intent", "text", first_of("intent")),
        Column("code", "text[]", tokens_of("medicationCodeableConcept")),
        Column("subject", "text", reference_of("subject"), is_reference=True),
        Column("encounter", "text", reference_of("encounter"), is_reference=True),
        Column("requester", "text", reference_of("requester"), is_reference=True),
    ),
    clinical_time=first_time(last_instant("authoredOn")),
    partition_param="authoredon",
)
