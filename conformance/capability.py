"""The CapabilityStatement, generated from what the server really implements.

Interactions come from the route table, resource types from the mappings, and
search parameters from the bindings joined to the official definitions, so the
statement cannot claim anything the code does not do.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fhirserver.spec import FHIR_VERSION, compartments
from mappings import MAPPINGS
from searchparams import catalog

SOFTWARE_VERSION = "0.1.0"
# Where the statement says which R4 parameters of a type this server does not support, and why.
UNSUPPORTED_EXTENSION = "urn:fhirserver:capability:unsupported-search-param"


def _search_params(resource_type: str) -> list[dict]:
    return [{"name": code, "definition": p.definition.url, "type": p.type, "documentation": p.kind.documentation()}
            for code, p in catalog.supported(resource_type).items()]


def _references(resource_type: str) -> list[str]:
    return [code for code, p in catalog.supported(resource_type).items() if p.type == "reference"]


def _includes(resource_type: str) -> list[str]:
    """_include values: each reference parameter, and `*` for all of them (searchparams/parse.py)."""
    refs = _references(resource_type)
    return [f"{resource_type}:{code}" for code in refs] + ([f"{resource_type}:*"] if refs else [])


def _revincludes(resource_type: str) -> list[str]:
    return [f"{source}:{code}" for source in sorted(MAPPINGS) for code in _references(source)
            if resource_type in catalog.supported(source)[code].targets]


def _declined(resource_type: str) -> list[dict]:
    return [{"url": UNSUPPORTED_EXTENSION, "valueString": f"{code}: {d.reason}"}
            for code, d in catalog.declined(resource_type).items()]


_CHANGES = frozenset({"update", "patch", "delete"})


def capability_statement(base_url: str, type_interactions: list[str], instance_interactions: list[str],
                         search_supported: bool, system: list[str] = (), security: dict | None = None,
                         append_only: frozenset[str] = frozenset()) -> dict:
    resources = []
    for resource_type in sorted(MAPPINGS):
        codes = [c for c in instance_interactions + type_interactions
                 if resource_type not in append_only or c not in _CHANGES]
        entry: dict = {
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "interaction": [{"code": c} for c in codes],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": resource_type not in append_only,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": resource_type not in append_only,
            "conditionalDelete": "not-supported" if resource_type in append_only else "single",
            "referencePolicy": ["literal", "local", "enforced"],
        }
        # fhirserver/interactions/validate.py and everything.py
        entry["operation"] = [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}]
        if resource_type in ("Patient", "Encounter"):
            entry["operation"].append({"name": "everything", "definition":
                                       f"http://hl7.org/fhir/OperationDefinition/{resource_type}-everything"})
        if search_supported:
            entry.update({k: v for k, v in (("searchInclude", _includes(resource_type)),
                                            ("searchRevInclude", _revincludes(resource_type))) if v})
            entry["searchParam"] = _search_params(resource_type)
            entry["extension"] = _declined(resource_type)
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "publisher": "fhirserver",
        "kind": "instance",
        "software": {"name": "fhirserver", "version": SOFTWARE_VERSION},
        "implementation": {"description": "FHIR R4 server on partitioned PostgreSQL", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json"],
        "rest": [{"mode": "server", **({"security": security} if security else {}), "resource": resources,
                  **({"interaction": [{"code": c} for c in system]} if system else {}),
                  "compartment": [f"http://hl7.org/fhir/CompartmentDefinition/{c[0].lower() + c[1:]}"
                                  for c in sorted(compartments()) if c in MAPPINGS]}],
    }
