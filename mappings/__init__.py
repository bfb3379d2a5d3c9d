"""Resource <-> table mappings, one module per stored resource type."""

from mappings import (
                      appointment,
                      audit_event,
                      claim,
                      encounter,
                      location,
                      medication_request,
                      observation,
                      organization,
                      patient,
                      practitioner,
)
from mappings.base import ResourceMapping

MAPPINGS: dict[str, ResourceMapping] = {
    m.MAPPING.resource_type: m.MAPPING
    for m in (organization, location, practitioner, patient, encounter, observation,
              appointment, medication_request, claim, audit_event)
}
# Tables the tenant partitions are made for, with whether they split by month.
SUPPORT_TABLES: dict[str, bool] = {"id_directory": False, "resource_refs": False, "idempotency_keys": False}
