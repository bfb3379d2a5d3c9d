"""The world the search properties run in: a tenant per test function, the pool resources that
references point at, and tags that keep each example's resources apart.

Isolation: every test function gets a tenant of its own (with a few resources that
references point at); every example tags its resources with a fresh meta.tag code and
every search carries that `_tag`, so examples never see each other's resources.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from fhirserver.tenants import create_tenant
from tests.property.oracle import Clause, Store, escape
from tests.property.strategies import dumps
from tests.property.support import show

TAG_SYSTEM = "http://oracle.test/example"
HEADERS = {"Content-Type": "application/fhir+json"}
PUBLIC_BASE = "http://fhir.test"      # tests/conftest.py's Settings.public_base_url
OTHER = "http://other.test/fhir"      # an external server: never resolved, never checked


@dataclass
class World:
    """One test function's tenant: where references may point, and everything it holds."""

    slug: str
    refs: dict[str, list[str]] = field(default_factory=dict)   # type -> ids references may point at
    stored: Store = field(default_factory=Store)   # every resource created in the tenant: chains, _has

    def pointing_at(self, type_name: str, ids: list[str]) -> "World":
        """The same tenant, where local references to `type_name` point at `ids` (instead of the pool)."""
        return World(self.slug, {**self.refs, type_name: ids}, self.stored)

    @property
    def base(self) -> str:
        return f"{PUBLIC_BASE}/{self.slug}"


POOL = {
    "Organization": [{"resourceType": "Organization", "name": "Org A"},
                     {"resourceType": "Organization", "name": "Org B"}],
    "Practitioner": [{"resourceType": "Practitioner", "name": [{"family": "Doc"}]},
                     {"resourceType": "Practitioner", "name": [{"family": "Nurse"}]}],
    "Patient": [{"resourceType": "Patient", "name": [{"family": "Pool"}]},
                {"resourceType": "Patient", "name": [{"family": "Pool2"}]}],
    "Location": [{"resourceType": "Location", "name": "Ward 1"}],
    # What AuditEvent.entity refers to besides Patients (and DiagnosticReport.result, Procedure.partOf...).
    "Observation": [{"resourceType": "Observation", "status": "final", "code": {"text": "pool"}}],
}


async def new_world(owner, http) -> World:
    """A fresh tenant holding the pool resources and an Encounter of the first pool Patient."""
    w = World(f"oracle-{uuid.uuid4().hex[:12]}")
    await create_tenant(owner, w.slug, months_ahead=1)
    for type_name, bodies in POOL.items():
        for body in bodies:
            r = await http.post(f"/{w.slug}/{type_name}", content=orjson.dumps(body), headers=HEADERS)
            assert r.status_code == 201, show(r.content)
            w.refs.setdefault(type_name, []).append(r.json()["id"])
            w.stored.add(r.json())
    r = await http.post(f"/{w.slug}/Encounter", headers=HEADERS, content=orjson.dumps(
        {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
         "subject": {"reference": f"Patient/{w.refs['Patient'][0]}"}}))
    assert r.status_code == 201, show(r.content)
    w.refs["Encounter"] = [r.json()["id"]]
    w.stored.add(r.json())
    return w


def fresh_tag() -> dict:
    """A meta.tag of its own for one example's resources."""
    return {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}


def tag_clause(tag: dict) -> Clause:
    """The `_tag` clause every search of an example carries: it sees that example's resources only."""
    return Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))


async def create_all(http, w: World, bodies: list[dict]) -> list[dict]:
    """POST each body; the stored resources, numbers as Decimals (the text they were sent with),
    which the world's store keeps too."""
    out = []
    for body in bodies:
        sent = dumps(body)
        r = await http.post(f"/{w.slug}/{body['resourceType']}", content=sent, headers=HEADERS)
        assert r.status_code == 201, f"POST {show(sent)}\n{show(r.content)}"
        out.append(json.loads(r.content, parse_float=Decimal))
        w.stored.add(out[-1])
    return out
