"""Resource <-> table mappings: a module per hand-tuned type, the rest generic."""

from mappings import (
                      appointment,
                      audit_event,
                      claim,
                      encounter,
                      generic,
                      location,
                      medication_request,
                      observation,
                      organization,
                      patient,
                      practitioner,
)
from mappings.base import ResourceMapping

# The ten seed types: tables of their own, with bound columns and (most) month partitions.
SEED: dict[str, ResourceMapping] = {
    m.MAPPING.resource_type: m.MAPPING
    for m in (organization, location, practitioner, patient, encounter, observation,
              appointment, medication_request, claim, audit_event)
}
# Every stored type: the seed's and every other R4 type on the shared tables.
MAPPINGS: dict[str, ResourceMapping] = {**SEED, **generic.mappings(set(SEED))}
# Tables the tenant partitions are made for, with whether they split by month.
SUPPORT_TABLES: dict[str, bool] = {"id_directory": False, "resource_refs": False, "idempotency_keys": False,
                                   generic.STORAGE: False, generic.STORAGE + "_history": False}
