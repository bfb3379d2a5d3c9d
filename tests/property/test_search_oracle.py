"""Property: a search returns exactly the resources an independent oracle says it must.

For each of six stored types (Patient, Observation, Encounter, Appointment, MedicationRequest,
Claim), hypothesis builds a small set of valid resources (3 to 7) whose values come from small
pools (names that differ only by case, accents or a prefix; codes with and without a system;
dates at every precision and in several time zones; quantities whose decimals differ only in
precision; references relative, absolute on this server, external or by identifier; tags,
security labels, profiles, sources), creates them (201), and runs six random searches over
the type's supported parameters: one or two clauses, OR-ed values, the prefixes eq ne gt lt
ge le sa eb ap, the modifiers :missing :not :text :of-type :exact :contains :identifier :[type]
:below :above (on uris, and on tokens of R4's own code systems) :in :not-in, escaped
separators, and now and then pages of two (following `next`). The ids the server returns
must be exactly the ids that tests/property/oracle.py computes by evaluating each
parameter's official FHIRPath expression with fhirpathpy and applying the R4 matching rules
of search.html. Half of the search values are drawn from what the stored resources hold, so
that searches hit.

Isolation: every test function gets a tenant of its own (with a few resources that
references point at); every example tags its resources with a fresh meta.tag code and
every search carries that `_tag`, so examples never see each other's resources.

Searches use `Prefer: handling=strict`: a parameter the server would silently drop must
fail instead. Where R4 itself is ambiguous the oracle raises `Ambiguous` and that search is
not compared (hypothesis statistics count them). Every disagreement found so far has a
minimal regression test at the end of this file; none is open.
Chains (one or two links, through the pool resources) and Observation's composite parameters
are covered, and so is `ap`: R4 leaves its tolerance to the server and recommends 10% (of the
value; of the gap between now and a date), which this server takes; as "now" moves while a
search runs, the oracle gives the narrowest and the widest acceptable answer of a date `ap`
(clock read before the request and after the last page, the tolerance checked to 9.9-10.1%) and
the server's ids must lie between them. test_ap_tolerance_returns_what_the_oracle_says puts
stored numbers and dates on purpose just inside and just outside 10% of the searched value.

Reverse chains (`_has:Type:ref:param=value`, and `_has` nested in `_has`) have a test of their
own (test_reverse_chains_return_what_the_oracle_says): it creates tagged candidates of a type
that references point at (Patient, Encounter, Practitioner, Organization, Location), resources
of the six types above built so that their references may point at those candidates, and a
second level of resources that may point at the first, then searches the candidates with
`_has` clauses whose inner parameter is any clause the property above draws (modifiers,
prefixes, chains, composites). The oracle evaluates the reference parameter's official
expression on every resource of the source type the tenant holds and the inner clause on those
that refer to the candidate.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial

import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

pytest.importorskip("fhirpathpy", reason="the oracle evaluates FHIRPath with fhirpathpy (pip install fhirpathpy)")

from fhirserver.tenants import create_tenant  # noqa: E402
from mappings import MAPPINGS  # noqa: E402
from searchparams import catalog  # noqa: E402
from searchparams.registry import params_for  # noqa: E402
from tests.property.oracle import (  # noqa: E402
    UCUM,
    Ambiguous,
    Clause,
    Context,
    Has,
    Node,
    Store,
    coded,
    date_interval,
    escape,
    expected_ids,
    expected_range,
    fold,
    in_value_set,
    is_a,
    nodes,
    split_values,
    string_parts,
    terminology,
    token_texts,
)
from tests.property.strategies import DecimalText, dumps  # noqa: E402
from tests.property.support import examples, show  # noqa: E402

# FHIR_PROPERTY_NO_SHRINK=1 reports the first failing example as found, unshrunk: quicker while
# hunting (shrinking a search failure can take minutes); the normal run shrinks.
SETTINGS = settings(max_examples=examples(40), deadline=None,
                    phases=([Phase.explicit, Phase.generate] if os.environ.get("FHIR_PROPERTY_NO_SHRINK")
                            else list(Phase)),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
QUERIES_PER_EXAMPLE = 6
TAG_SYSTEM = "http://oracle.test/example"
HEADERS = {"Content-Type": "application/fhir+json"}
STRICT = {"Prefer": "handling=strict"}
PUBLIC_BASE = "http://fhir.test"      # tests/conftest.py's Settings.public_base_url
OTHER = "http://other.test/fhir"      # an external server: never resolved, never checked


# --- the world one test function searches in ----------------------------------------------------

@dataclass
class World:
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
}


@pytest_asyncio.fixture
async def world(owner, http) -> World:
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


# --- value pools -------------------------------------------------------------------------------

FAMILIES = ["Smith", "Smyth", "Ñandú", "Nandu", "O'Brien", "Smith, Jr", "van Dyke", "50%_off", "Back\\"]
GIVENS = ["Ann", "Anne", "Zoë", "Zoe", "Jo", "José"]
NAME_AFFIXES = ["Dr", "Mme", "PhD"]
NAME_TEXTS = ["Dr Ann Smith", "José Ñandú"]
LINES = ["12 Main St", "Rue du Lac 3", "Bahnhofstraße 1"]
CITIES = ["Zürich", "Zurich", "Boston", "São Paulo", "İzmir"]
STATES = ["ZH", "MA"]
POSTAL = ["8001", "80", "02134"]
COUNTRIES = ["CH", "US", "Schweiz"]

ID_SYSTEMS = ["http://a.test/id", "http://b.test/id"]
ID_VALUES = ["123", "ABC", "abc", "A|1", "1,2", "x$y", "y\\"]
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ID_TYPES = [("DL", "Driver's license"), ("PPN", "Passport")]
CP_VALUES = {"phone": ["555-1234", "555 1234"], "email": ["a@x.test", "A@x.test"]}

LOINC = "http://loinc.org"
OTHER_CS = "http://other.test/cs"
CODES = ["8480-6", "8462-4", "29463-7", "abc", "ABC"]
DISPLAYS = ["Systolic BP", "Diastolic BP", "Body weight", "Pression artérielle"]
CC_TEXTS = ["Blood pressure", "Weight", "Pression artérielle", "blood"]
CATEGORY_CS = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED = "http://snomed.info/sct"

TAG_POOL = "http://oracle.test/tags"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# No URI here is a string prefix of another without being a path prefix ('.../sd/a' and
# '.../sd/ab'): whether :below/:above work on characters or on path segments R4 leaves open.
PROFILES = ["http://oracle.test/sd/a", "http://oracle.test/sd/a/v2", "http://oracle.test/sd/b", "urn:oid:1.2.3"]
SOURCES = ["http://oracle.test/src/x", "http://oracle.test/src/x/y", "http://other.test/src"]
DATES = ["1970", "1970-06", "1970-06-15", "1970-06-16", "1971-02-03"]
DATE_TIMES = ["2020", "2020-03", "2020-03-15", "2020-03-16", "2020-03-15T10:00:00Z", "2020-03-15T10:00:00+02:00",
              "2020-03-15T23:30:00-05:00", "2020-03-16T00:00:00Z", "2020-03-15T10:00:00.250Z",
              "2021-01-01T00:00:00Z"]
INSTANTS = [d for d in DATE_TIMES if "T" in d]
DATE_QUERIES = ["1970", "1970-06", "1970-06-15", "1971", "2019", "2020", "2020-03", "2020-03-15", "2020-03-16",
                "2020-03-15T10:00", "2020-03-15T08:00Z", "2020-03-15T10:00:00Z", "2020-03-15T10:00:00.250Z",
                "2020-03-16T04:30:00Z", "2020-03-15T12:00:00+02:00", "2021"]
DATE_PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]

# Decimals keep their JSON text. No stored value lies on the edge of a searched value's implied
# range (e.g. 5.45 against 5.4), where R4 does not say whether the range is closed. Some lie just
# inside or outside 10% of a searched value (ap100: 91 and 109.9 are in, 89.9 and 111 out; ap5.4:
# 4.9 and 5.9 in, 6 out), and 0.3 in the implied range of 0 only.
QTY_VALUES = ["5.4", "5.40", "5.41", "100", "100.0", "1e2", "100.04", "99.6", "0", "-3",
              "91", "109.9", "89.9", "111", "4.9", "5.9", "6", "0.3"]
QTY_UNITS = [("mg", UCUM, "mg"), ("kg", UCUM, "kg"), ("mg", None, None), ("milligram", UCUM, "mg"),
             ("mg", "http://other.test/units", "mg")]
QTY_QUERIES = ["5.4", "5.40", "5", "100", "100.0", "99.6", "0", "0.0", "-3", "100.04"]
QTY_UNIT_QUERIES = [(), (UCUM, "mg"), ("", "mg"), (UCUM, "kg"), ("", "milligram")]
NUMBER_PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


def maybe(strategy, p: float = 0.5):
    """`strategy` with probability about `p`, else None."""
    return st.integers(0, 99).flatmap(lambda n: strategy if n < p * 100 else st.none())


def _put(r: dict, key: str, value) -> None:
    if value is not None and value != []:
        r[key] = value


@st.composite
def coding(draw, codes=CODES, systems=(LOINC, OTHER_CS, None), displays=DISPLAYS) -> dict:
    """Mostly system and code; now and then a system or a display alone (both valid Codings)."""
    c = {}
    _put(c, "system", draw(st.sampled_from(systems)))
    if draw(st.integers(0, 9)):
        c["code"] = draw(st.sampled_from(codes))
    _put(c, "display", draw(maybe(st.sampled_from(displays))))
    return c if c else {"code": draw(st.sampled_from(codes))}


@st.composite
def concept(draw, codes=CODES, systems=(LOINC, OTHER_CS, None), texts=CC_TEXTS) -> dict:
    cc = {}
    _put(cc, "coding", draw(st.lists(coding(codes, systems), max_size=2)))
    _put(cc, "text", draw(maybe(st.sampled_from(texts))))
    return cc or {"text": draw(st.sampled_from(texts))}


@st.composite
def identifier(draw) -> dict:
    i = {}
    _put(i, "system", draw(maybe(st.sampled_from(ID_SYSTEMS), 0.7)))
    if draw(st.booleans()):
        code, text = draw(st.sampled_from(ID_TYPES))
        t = {"coding": [{"system": V2_0203, "code": code}]}
        _put(t, "text", draw(maybe(st.just(text))))
        i["type"] = t
    i["value"] = draw(st.sampled_from(ID_VALUES))
    return i


def identifiers():
    return st.lists(identifier(), max_size=2)


@st.composite
def reference(draw, w: World, types: tuple[str, ...], external: tuple[str, ...] = ()) -> dict:
    """A Reference to a pool resource of one of `types` (relative, or absolute on this server),
    to a resource on another server, or by identifier only."""
    kind = draw(st.sampled_from(["relative"] * 4 + ["absolute", "external", "external", "identifier", "identifier"]))
    if kind == "external" or (kind != "identifier" and not [t for t in types if t in w.refs]):
        t = draw(st.sampled_from(types + external))
        return {"reference": f"{OTHER}/{t}/{draw(st.sampled_from(['x1', 'x2']))}"}
    if kind == "identifier":
        return {"identifier": {"system": draw(st.sampled_from(ID_SYSTEMS)), "value": draw(st.sampled_from(ID_VALUES))},
                "display": "by identifier"}
    t = draw(st.sampled_from([t for t in types if t in w.refs]))
    id_ = draw(st.sampled_from(w.refs[t]))
    return {"reference": f"{t}/{id_}" if kind == "relative" else f"{w.base}/{t}/{id_}"}


@st.composite
def period(draw, pool=DATE_TIMES) -> dict:
    a, b = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)),
                  key=lambda d: date_interval(d)[0])
    p = {}
    shape = draw(st.sampled_from(["both", "start", "end"]))
    if shape in ("both", "start"):
        p["start"] = a
    if shape in ("both", "end"):
        p["end"] = b
    return p


@st.composite
def quantity(draw, values=QTY_VALUES, units=QTY_UNITS) -> dict:
    q = {"value": DecimalText(draw(st.sampled_from(values)))}
    unit, system, code = draw(st.sampled_from(units))
    _put(q, "unit", unit)
    _put(q, "system", system)
    _put(q, "code", code)
    return q


@st.composite
def human_name(draw) -> dict:
    n = {}
    _put(n, "use", draw(maybe(st.sampled_from(["official", "nickname"]), 0.3)))
    _put(n, "text", draw(maybe(st.sampled_from(NAME_TEXTS), 0.3)))
    _put(n, "family", draw(maybe(st.sampled_from(FAMILIES), 0.8)))
    _put(n, "given", draw(st.lists(st.sampled_from(GIVENS), max_size=2)))
    _put(n, "prefix", draw(st.lists(st.sampled_from(NAME_AFFIXES[:2]), max_size=1)))
    _put(n, "suffix", draw(st.lists(st.just(NAME_AFFIXES[2]), max_size=1)))
    return n if set(n) - {"use"} else {"family": draw(st.sampled_from(FAMILIES))}


@st.composite
def address(draw) -> dict:
    a = {}
    _put(a, "use", draw(maybe(st.sampled_from(["home", "work"]))))
    _put(a, "line", draw(st.lists(st.sampled_from(LINES), max_size=2)))
    for key, pool in (("city", CITIES), ("state", STATES), ("postalCode", POSTAL), ("country", COUNTRIES)):
        _put(a, key, draw(maybe(st.sampled_from(pool))))
    return a if set(a) - {"use"} else {"city": draw(st.sampled_from(CITIES))}


@st.composite
def contact_point(draw) -> dict:
    system = draw(st.sampled_from(["phone", "email"]))
    c = {"system": system, "value": draw(st.sampled_from(CP_VALUES[system]))}
    _put(c, "use", draw(maybe(st.sampled_from(["home", "work"]), 0.3)))
    return c


# --- resources, one builder per type -----------------------------------------------------------

@st.composite
def patient(draw, w: World) -> dict:
    r = {"resourceType": "Patient"}
    _put(r, "identifier", draw(identifiers()))
    _put(r, "active", draw(maybe(st.booleans())))
    _put(r, "name", draw(st.lists(human_name(), max_size=2)))
    _put(r, "telecom", draw(st.lists(contact_point(), max_size=2)))
    _put(r, "gender", draw(maybe(st.sampled_from(["male", "female", "other", "unknown"]), 0.7)))
    _put(r, "birthDate", draw(maybe(st.sampled_from(DATES), 0.7)))
    deceased = draw(st.sampled_from([None, None, "boolean", "dateTime"]))
    if deceased == "boolean":
        r["deceasedBoolean"] = draw(st.booleans())
    elif deceased == "dateTime":
        r["deceasedDateTime"] = draw(st.sampled_from(DATE_TIMES))
    _put(r, "address", draw(st.lists(address(), max_size=2)))
    _put(r, "managingOrganization", draw(maybe(reference(w, ("Organization",)))))
    _put(r, "generalPractitioner", draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=2)))
    langs = draw(st.lists(concept(["en", "fr", "de-CH"], ("urn:ietf:bcp:47", None), ["English", "French"]),
                          max_size=2))
    _put(r, "communication", [{"language": c} for c in langs])
    _put(r, "link", [{"other": ref, "type": "seealso"}
                     for ref in draw(st.lists(reference(w, ("Patient",)), max_size=1))])
    return r


@st.composite
def observation(draw, w: World) -> dict:
    r = {"resourceType": "Observation"}
    _put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["final", "preliminary", "amended", "cancelled"]))
    _put(r, "category", draw(st.lists(concept(["vital-signs", "laboratory"], (CATEGORY_CS, None)), max_size=1)))
    r["code"] = draw(concept())
    _put(r, "subject", draw(maybe(reference(w, ("Patient",), ("Group",)), 0.7)))
    _put(r, "focus", draw(st.lists(reference(w, ("Patient", "Organization")), max_size=1)))
    _put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    effective = draw(st.sampled_from([None, "dateTime", "Period", "instant", "Timing"]))
    if effective == "dateTime":
        r["effectiveDateTime"] = draw(st.sampled_from(DATE_TIMES))
    elif effective == "instant":
        r["effectiveInstant"] = draw(st.sampled_from(INSTANTS))
    elif effective == "Period":
        r["effectivePeriod"] = draw(period())
    elif effective == "Timing":
        r["effectiveTiming"] = {"event": draw(st.lists(st.sampled_from(DATE_TIMES), min_size=1, max_size=2,
                                                       unique=True))}
    _put(r, "issued", draw(maybe(st.sampled_from(INSTANTS), 0.3)))
    _put(r, "performer", draw(st.lists(reference(w, ("Practitioner", "Organization", "Patient")), max_size=2)))
    value = draw(st.sampled_from([None, "Quantity", "Quantity", "CodeableConcept", "string", "dateTime", "Period"]))
    if value == "Quantity":
        r["valueQuantity"] = draw(quantity())
    elif value == "CodeableConcept":
        r["valueCodeableConcept"] = draw(concept())
    elif value == "string":
        r["valueString"] = draw(st.sampled_from(CC_TEXTS + FAMILIES))
    elif value == "dateTime":
        r["valueDateTime"] = draw(st.sampled_from(DATE_TIMES))
    elif value == "Period":
        r["valuePeriod"] = draw(period())
    else:
        _put(r, "dataAbsentReason", draw(maybe(concept(["unknown", "masked"], (None,)), 0.3)))
    _put(r, "method", draw(maybe(concept(), 0.3)))
    components = []
    for _ in range(draw(st.integers(0, 2))):
        c = {"code": draw(concept())}
        kind = draw(st.sampled_from(["Quantity", "CodeableConcept", "absent"]))
        if kind == "Quantity":
            c["valueQuantity"] = draw(quantity())
        elif kind == "CodeableConcept":
            c["valueCodeableConcept"] = draw(concept())
        else:
            _put(c, "dataAbsentReason", draw(maybe(concept(["unknown", "masked"], (None,)))))
        components.append(c)
    _put(r, "component", components)
    return r


@st.composite
def encounter(draw, w: World) -> dict:
    r = {"resourceType": "Encounter"}
    _put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["planned", "arrived", "in-progress", "finished", "cancelled"]))
    r["class"] = draw(coding(["AMB", "IMP", "ACUTE", "EMER"], (ACT_CODE, None), ["ambulatory", "inpatient"]))
    _put(r, "type", draw(st.lists(concept(), max_size=2)))
    _put(r, "subject", draw(maybe(reference(w, ("Patient",), ("Group",)), 0.7)))
    participants = []
    for _ in range(draw(st.integers(0, 2))):
        p = {}
        _put(p, "type", draw(st.lists(concept(["ATND", "CON"], ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                                None)), max_size=1)))
        _put(p, "individual", draw(maybe(reference(w, ("Practitioner",), ("PractitionerRole",)), 0.8)))
        _put(p, "period", draw(maybe(period(), 0.3)))
        participants.append(p or {"individual": draw(reference(w, ("Practitioner",)))})
    _put(r, "participant", participants)
    _put(r, "period", draw(maybe(period(), 0.7)))
    _put(r, "length", draw(maybe(quantity(["30", "30.0", "90", "1.5", "28", "34"],
                                          [("min", UCUM, "min"), ("h", UCUM, "h"), ("minutes", None, None)]))))
    _put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    if draw(st.booleans()):
        r["hospitalization"] = {"specialArrangement": draw(st.lists(
            concept(["wheel", "int"], ("http://terminology.hl7.org/CodeSystem/encounter-special-arrangements", None)),
            min_size=1, max_size=2))}
    locations = draw(st.lists(st.tuples(reference(w, ("Location",)), maybe(period(), 0.5)), max_size=2))
    _put(r, "location", [{"location": ref, **({"period": p} if p else {})} for ref, p in locations])
    _put(r, "serviceProvider", draw(maybe(reference(w, ("Organization",)))))
    _put(r, "partOf", draw(maybe(reference(w, ("Encounter",)), 0.3)))
    return r


@st.composite
def appointment(draw, w: World) -> dict:
    r = {"resourceType": "Appointment"}
    _put(r, "identifier", draw(identifiers()))
    status = draw(st.sampled_from(["proposed", "pending", "booked", "cancelled", "noshow"]))
    r["status"] = status
    _put(r, "serviceCategory", draw(st.lists(concept(), max_size=1)))
    _put(r, "serviceType", draw(st.lists(concept(), max_size=1)))
    _put(r, "specialty", draw(st.lists(concept(), max_size=1)))
    _put(r, "appointmentType", draw(maybe(concept())))
    _put(r, "reasonCode", draw(st.lists(concept(), max_size=1)))
    if status not in ("proposed", "cancelled") or draw(st.booleans()):   # app-3
        a, b = sorted(draw(st.lists(st.sampled_from(INSTANTS), min_size=2, max_size=2)),
                      key=lambda d: date_interval(d)[0])
        r["start"], r["end"] = a, b
    r["participant"] = [
        {"actor": draw(reference(w, ("Patient", "Practitioner", "Location"))),
         "status": draw(st.sampled_from(["accepted", "declined", "tentative", "needs-action"]))}
        for _ in range(draw(st.integers(1, 2)))]
    return r


@st.composite
def medication_request(draw, w: World) -> dict:
    r = {"resourceType": "MedicationRequest"}
    _put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["active", "on-hold", "completed", "stopped"]))
    r["intent"] = draw(st.sampled_from(["proposal", "plan", "order"]))
    _put(r, "category", draw(st.lists(concept(["inpatient", "outpatient"], (None, OTHER_CS)), max_size=1)))
    _put(r, "priority", draw(maybe(st.sampled_from(["routine", "urgent", "stat"]))))
    r["medicationCodeableConcept"] = draw(concept(["1049502", "308136", "abc"],
                                                  ("http://www.nlm.nih.gov/research/umls/rxnorm", None)))
    r["subject"] = draw(reference(w, ("Patient",), ("Group",)))
    _put(r, "encounter", draw(maybe(reference(w, ("Encounter",)))))
    _put(r, "authoredOn", draw(maybe(st.sampled_from(DATE_TIMES), 0.7)))
    _put(r, "requester", draw(maybe(reference(w, ("Practitioner", "Organization", "Patient")))))
    _put(r, "performer", draw(maybe(reference(w, ("Practitioner", "Organization", "Patient")))))
    _put(r, "performerType", draw(maybe(concept(), 0.3)))
    dosage = [{"timing": {"event": draw(st.lists(st.sampled_from(DATE_TIMES), min_size=1, max_size=2, unique=True))}}
              for _ in range(draw(st.integers(0, 2)))]
    _put(r, "dosageInstruction", dosage)
    if draw(st.booleans()):
        r["dispenseRequest"] = {"performer": draw(reference(w, ("Organization",)))}
    return r


@st.composite
def claim(draw, w: World) -> dict:
    r = {"resourceType": "Claim"}
    _put(r, "identifier", draw(identifiers()))
    r["status"] = draw(st.sampled_from(["active", "cancelled", "draft"]))
    r["type"] = draw(concept(["oral", "pharmacy"], ("http://terminology.hl7.org/CodeSystem/claim-type", None)))
    r["use"] = draw(st.sampled_from(["claim", "preauthorization", "predetermination"]))
    r["patient"] = draw(reference(w, ("Patient",)))
    r["created"] = draw(st.sampled_from(DATE_TIMES))
    _put(r, "enterer", draw(maybe(reference(w, ("Practitioner",), ("PractitionerRole",)))))
    r["provider"] = draw(reference(w, ("Practitioner", "Organization")))
    r["priority"] = draw(concept(["stat", "normal"], ("http://terminology.hl7.org/CodeSystem/processpriority", None)))
    if draw(st.booleans()):
        r["payee"] = {"type": {"coding": [{"code": "provider"}]},
                      "party": draw(reference(w, ("Practitioner", "Organization", "Patient")))}
    _put(r, "facility", draw(maybe(reference(w, ("Location",)))))
    _put(r, "careTeam", [{"sequence": i + 1, "provider": ref} for i, ref in enumerate(
        draw(st.lists(reference(w, ("Practitioner", "Organization")), max_size=2)))])
    r["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"reference": f"{OTHER}/Coverage/c1"}}]
    items = []
    for i in range(draw(st.integers(0, 2))):
        item = {"sequence": i + 1, "productOrService": draw(concept())}
        _put(item, "encounter", draw(st.lists(reference(w, ("Encounter",)), max_size=1)))
        items.append(item)
    _put(r, "item", items)
    return r


@st.composite
def meta(draw, tag: dict) -> dict:
    """The example's tag, and now and then more tags, a security label, profiles and a source."""
    m = {"tag": [tag] + draw(st.lists(coding(("a", "b", "A"), (TAG_POOL,), ("Alpha", "Beta")), max_size=1))}
    _put(m, "security", draw(st.lists(coding(("R", "N"), (CONFIDENTIALITY,), ("restricted",)), max_size=1)))
    _put(m, "profile", draw(st.lists(st.sampled_from(PROFILES), max_size=2, unique=True)))
    _put(m, "source", draw(maybe(st.sampled_from(SOURCES), 0.3)))
    return m


BUILDERS = {"Patient": patient, "Observation": observation, "Encounter": encounter, "Appointment": appointment,
            "MedicationRequest": medication_request, "Claim": claim}


# --- search values -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Str:
    words: tuple[str, ...]


@dataclass(frozen=True)
class Phon:
    """A `phonetic` parameter: names and spellings that sound alike, or not."""
    words: tuple[str, ...]


@dataclass(frozen=True)
class Tok:
    """kind: coding (Coding/CodeableConcept), identifier, contact, code (primitive with an implied
    system), boolean, id."""
    kind: str
    systems: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    implicit: str | None = None
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dt:
    pass


@dataclass(frozen=True)
class Qty:
    numbers: tuple[str, ...] = tuple(QTY_QUERIES)
    units: tuple[tuple[str, ...], ...] = tuple(QTY_UNIT_QUERIES)


@dataclass(frozen=True)
class Ref:
    types: tuple[str, ...]


@dataclass(frozen=True)
class Uri:
    uris: tuple[str, ...]


NAME_WORDS = tuple(FAMILIES + GIVENS + NAME_AFFIXES + NAME_TEXTS)
ADDRESS_WORDS = tuple(LINES + CITIES + STATES + POSTAL + COUNTRIES)
CODING = Tok("coding", (LOINC, OTHER_CS, CATEGORY_CS, "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
             tuple(CODES) + ("vital-signs", "unknown", "AMB", "IMP", "ACUTE", "wheel", "ATND", "inpatient", "stat",
                             "oral", "1049502"),
             texts=tuple(CC_TEXTS + DISPLAYS))
IDENTIFIER = Tok("identifier", tuple(ID_SYSTEMS) + ("http://c.test/id",), tuple(ID_VALUES) + ("12",),
                 texts=tuple(t for _, t in ID_TYPES) + ("driver",))
CONTACT = Tok("contact", ("phone", "email"), tuple(v for vs in CP_VALUES.values() for v in vs))
BOOLEAN = Tok("boolean", (), ("true", "false"))


def code_of(type_name: str, param: str, codes: list[str]) -> Tok:
    from tests.property.oracle import IMPLICIT_SYSTEMS
    return Tok("code", ("http://other.test/cs",), tuple(codes), IMPLICIT_SYSTEMS[(type_name, param)])


COMMON = {"_id": Tok("id"), "_lastUpdated": Dt(), "identifier": IDENTIFIER,
          "_tag": Tok("coding", (TAG_POOL, TAG_SYSTEM), ("a", "b", "A")),
          "_security": Tok("coding", (CONFIDENTIALITY,), ("R", "N", "V")),
          "_profile": Uri(tuple(PROFILES)), "_source": Uri(tuple(SOURCES))}
SEARCHED: dict[str, dict[str, object]] = {
    "Patient": {
        **COMMON, "active": BOOLEAN, "deceased": BOOLEAN,
        "name": Str(NAME_WORDS), "family": Str(tuple(FAMILIES)), "given": Str(tuple(GIVENS)),
        "phonetic": Phon(tuple(FAMILIES + GIVENS) + ("Smithe", "SMYTHE", "Brian", "Dyck", "Joe", "Zoey", "ann")),
        "address": Str(ADDRESS_WORDS), "address-city": Str(tuple(CITIES)), "address-state": Str(tuple(STATES)),
        "address-postalcode": Str(tuple(POSTAL)), "address-country": Str(tuple(COUNTRIES)),
        "address-use": code_of("Patient", "address-use", ["home", "work", "temp"]),
        "gender": code_of("Patient", "gender", ["male", "female", "other", "unknown"]),
        "birthdate": Dt(), "death-date": Dt(),
        "telecom": CONTACT, "phone": CONTACT, "email": CONTACT,
        "language": Tok("coding", ("urn:ietf:bcp:47",), ("en", "fr", "de-CH", "EN"), texts=("English", "fr")),
        "organization": Ref(("Organization",)), "general-practitioner": Ref(("Practitioner", "Organization")),
        "link": Ref(("Patient",)),
    },
    "Observation": {
        **COMMON, "status": code_of("Observation", "status", ["final", "preliminary", "amended", "cancelled"]),
        "code": CODING, "category": CODING, "combo-code": CODING, "component-code": CODING, "method": CODING,
        "value-concept": CODING, "combo-value-concept": CODING, "component-value-concept": CODING,
        "data-absent-reason": CODING, "combo-data-absent-reason": CODING, "component-data-absent-reason": CODING,
        "date": Dt(), "value-date": Dt(),
        "value-quantity": Qty(), "combo-value-quantity": Qty(), "component-value-quantity": Qty(),
        "value-string": Str(tuple(CC_TEXTS + FAMILIES)),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "performer": Ref(("Practitioner", "Organization", "Patient")), "focus": Ref(("Patient", "Organization")),
    },
    "Encounter": {
        **COMMON, "status": code_of("Encounter", "status", ["planned", "arrived", "finished", "cancelled"]),
        "class": CODING, "type": CODING, "reason-code": CODING, "special-arrangement": CODING,
        "participant-type": CODING, "date": Dt(), "location-period": Dt(),
        "length": Qty(("30", "30.0", "90", "1.5", "2", "28"), ((), (UCUM, "min"), ("", "min"), ("", "minutes"))),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)),
        "participant": Ref(("Practitioner", "PractitionerRole")), "practitioner": Ref(("Practitioner",)),
        "location": Ref(("Location",)), "service-provider": Ref(("Organization",)), "part-of": Ref(("Encounter",)),
    },
    "Appointment": {
        **COMMON, "status": code_of("Appointment", "status", ["proposed", "booked", "cancelled", "noshow"]),
        "part-status": code_of("Appointment", "part-status", ["accepted", "declined", "tentative"]),
        "appointment-type": CODING, "service-category": CODING, "service-type": CODING, "specialty": CODING,
        "reason-code": CODING, "date": Dt(),
        "actor": Ref(("Patient", "Practitioner", "Location")), "patient": Ref(("Patient",)),
        "practitioner": Ref(("Practitioner",)), "location": Ref(("Location",)),
    },
    "MedicationRequest": {
        **COMMON, "status": code_of("MedicationRequest", "status", ["active", "on-hold", "completed", "stopped"]),
        "intent": code_of("MedicationRequest", "intent", ["proposal", "plan", "order"]),
        "priority": code_of("MedicationRequest", "priority", ["routine", "urgent", "stat"]),
        "category": CODING, "code": Tok("coding", ("http://www.nlm.nih.gov/research/umls/rxnorm", OTHER_CS),
                                        ("1049502", "308136", "abc"), texts=tuple(CC_TEXTS)),
        "intended-performertype": CODING, "authoredon": Dt(), "date": Dt(),
        "subject": Ref(("Patient", "Group")), "patient": Ref(("Patient",)), "encounter": Ref(("Encounter",)),
        "requester": Ref(("Practitioner", "Organization", "Patient")),
        "intended-performer": Ref(("Practitioner", "Organization", "Patient")),
        "intended-dispenser": Ref(("Organization",)),
    },
    "Claim": {
        **COMMON, "status": code_of("Claim", "status", ["active", "cancelled", "draft"]),
        "use": code_of("Claim", "use", ["claim", "preauthorization"]),
        "priority": CODING, "created": Dt(),
        "patient": Ref(("Patient",)), "provider": Ref(("Practitioner", "Organization")),
        "enterer": Ref(("Practitioner",)), "facility": Ref(("Location",)), "encounter": Ref(("Encounter",)),
        "care-team": Ref(("Practitioner", "Organization")), "payee": Ref(("Practitioner", "Organization", "Patient")),
    },
}


def stored(resources: list[dict], code: str) -> list:
    """What the parameter selects on the stored resources: the pool queries draw from half the
    time, so that searches hit (used to pick values only; matching is the oracle's business)."""
    return [n for r in resources for n in nodes(r, code)]


@st.composite
def string_query(draw, words: tuple[str, ...], found: list) -> str:
    """A word (from the pool or a stored value), a prefix or a piece of it, in another case or
    without its accents."""
    have = [p for n in found for p in string_parts(n)]
    word = draw(st.sampled_from(have if have and draw(st.booleans()) else words))
    how = draw(st.sampled_from(["whole", "prefix", "piece"]))
    if how == "prefix":
        word = word[:draw(st.integers(1, len(word)))]
    elif how == "piece":
        i = draw(st.integers(0, len(word) - 1))
        word = word[i:draw(st.integers(i + 1, len(word)))]
    word = draw(st.sampled_from([word, word, word.upper(), word.lower(), fold(word)]))
    return word.strip() or "a"


@st.composite
def token_query(draw, t: Tok, resources: list[dict], found: list) -> str:
    if t.kind == "id":
        return escape(draw(st.sampled_from([r["id"] for r in resources] + ["no-such-id"])))
    have = [c for n in found for c in coded(n, t.implicit) if c.code is not None]
    if have and draw(st.booleans()):
        pick = draw(st.sampled_from(have))
        system, code = pick.system, pick.code
        if system is None and t.kind != "boolean":
            system = draw(st.sampled_from(t.systems or ("http://other.test/cs",)))
    else:
        code = draw(st.sampled_from(t.codes))
        system = draw(st.sampled_from(list(t.systems) + ([t.implicit] * 2 if t.implicit else []) or [""]))
    if t.kind == "boolean":
        return draw(st.sampled_from([code, "|" + code]))
    forms = ["code", "code", "system|code", "system|code"]
    if t.kind != "code":
        forms += ["system|", "|code"]     # for a primitive code: see oracle.token_match
    elif draw(st.integers(0, 9)) == 0:
        forms.append("system|")
    form = draw(st.sampled_from(forms))
    return {"code": escape(code), "system|code": f"{escape(system)}|{escape(code)}", "system|": f"{escape(system)}|",
            "|code": f"|{escape(code)}"}[form]


def _date_texts(n) -> list[str]:
    if isinstance(n.value, str):
        return [n.value]
    if n.type == "Period":
        return [n.value[k] for k in ("start", "end") if k in n.value]
    if n.type == "Timing":
        return list(n.value.get("event", ()))
    return []


@st.composite
def date_query(draw, code: str, resources: list[dict], found: list) -> str:
    prefix = draw(st.sampled_from(DATE_PREFIXES))
    have = [t for n in found for t in _date_texts(n)]
    if code == "_lastUpdated":
        stamp = draw(st.sampled_from([r["meta"]["lastUpdated"] for r in resources]))
        day, time = stamp.split("T")
        text = draw(st.sampled_from([stamp, day[:4], day, f"{day}T{time[:5]}", f"{day}T{time[:8]}Z",
                                     stamp.replace("+00:00", "Z"), "2020"]))
    elif have and draw(st.booleans()):
        text = draw(st.sampled_from(have))
    else:
        text = draw(st.sampled_from(DATE_QUERIES))
    return prefix + text


@st.composite
def quantity_query(draw, q: Qty, found: list) -> str:
    have = [n.value for n in found if isinstance(n.value, dict) and "value" in n.value]
    if have and draw(st.booleans()):
        v = draw(st.sampled_from(have))
        number = format(Decimal(v["value"]), "f")     # no exponent: see oracle.implied_range
        unit = draw(st.sampled_from([(), (v.get("system", ""), v.get("code") or v.get("unit") or "mg"),
                                     ("", v.get("unit") or "mg")]))
    else:
        number = draw(st.sampled_from(q.numbers))
        unit = draw(st.sampled_from(q.units))
    return draw(st.sampled_from(NUMBER_PREFIXES)) + number + "".join("|" + escape(u) for u in unit)


@st.composite
def reference_query(draw, r: Ref, w: World, found: list) -> tuple[str | None, str]:
    """(modifier, value): [id], [type]/[id], :[type]=[id], an absolute URL, :identifier."""
    local = [(t, i) for t in r.types for i in w.refs.get(t, [])]
    refs = [n.value for n in found if isinstance(n.value, dict)]
    form = draw(st.sampled_from(["id", "type/id", "type/id", ":type", "url", ":identifier"] * 3 + ["own-url"]))
    if form == ":identifier":
        have = [v["identifier"] for v in refs if "identifier" in v]
        if have and draw(st.booleans()):
            ident = draw(st.sampled_from(have))
            system, value = ident["system"], ident["value"]
        else:
            system, value = draw(st.sampled_from(ID_SYSTEMS)), draw(st.sampled_from(ID_VALUES))
        return "identifier", draw(st.sampled_from([f"{escape(system)}|{escape(value)}", escape(value),
                                                   f"{escape(system)}|", f"|{escape(value)}"]))
    external = [v["reference"] for v in refs if v.get("reference", "").startswith(OTHER)]
    if form == "url" or not local:
        if external and draw(st.booleans()):
            return None, draw(st.sampled_from(external))
        types = r.types + ("Group",)     # Group: not a target of every parameter (patient), but a valid search
        return None, f"{OTHER}/{draw(st.sampled_from(types))}/{draw(st.sampled_from(['x1', 'x2']))}"
    t, i = draw(st.sampled_from(local))
    if form == "id":
        return None, i
    if form == ":type":
        return t, i
    if form == "own-url":
        return None, f"{w.base}/{t}/{i}"
    return None, f"{t}/{i}"


@st.composite
def uri_query(draw, u: Uri, modifier: str | None) -> str:
    """A pool URI; for :below a path prefix of one, for :above one with more path below it."""
    uri = draw(st.sampled_from(u.uris))
    if modifier == "below" and uri.startswith("http"):
        parts = uri.split("/")
        uri = "/".join(parts[:draw(st.integers(3, len(parts)))])
    elif modifier == "above" and uri.startswith("http"):
        uri += draw(st.sampled_from(["", "/v2", "/x/y"]))
    return uri


# Chains end in a parameter of the pool resources (their names, an Encounter's status) or go on
# from the pool Encounter to its Patient.
CHAIN_TARGETS = {
    "Patient": ("family", ["Pool", "Pool2", "po", "Nobody"]),
    "Organization": ("name", ["Org A", "Org", "org b", "Zed"]),
    "Practitioner": ("family", ["Doc", "Nurse", "d", "Zed"]),
    "Location": ("name", ["Ward 1", "Ward", "Zed"]),
    "Encounter": ("status", ["finished", "planned"]),
}


@st.composite
def chained(draw, target: str, n: int) -> Clause:
    if target == "Encounter" and draw(st.booleans()):
        return Clause("patient", "Patient", (), draw(chained("Patient", n)))
    code, words = CHAIN_TARGETS[target]
    modifier = None if code == "status" else draw(st.sampled_from([None, None, "exact", "contains"]))
    return Clause(code, modifier, tuple(draw(st.lists(st.sampled_from(words), min_size=n, max_size=n))))


COMPOSITES = {"code-value-quantity": "quantity", "code-value-concept": "token", "code-value-date": "date",
              "code-value-string": "string", "component-code-value-quantity": "quantity",
              "component-code-value-concept": "token", "combo-code-value-quantity": "quantity",
              "combo-code-value-concept": "token"}


@st.composite
def composite_value(draw, code: str, resources: list[dict]) -> str:
    """`code$value`, half the time taken from one stored element (the resource or one of its
    components) so that matches happen; the pools hold no `$`, `,` or backslash."""
    second = COMPOSITES[code]
    elements = [r for r in resources if not code.startswith("component-")]
    elements += [c for r in resources for c in r.get("component", ()) if not code.startswith("code-")]
    element = draw(st.sampled_from(elements)) if elements and draw(st.booleans()) else {}
    codings = [c for c in element.get("code", {}).get("coding", ()) if "code" in c]
    if codings:
        c = draw(st.sampled_from(codings))
        first = f"{c['system']}|{c['code']}" if "system" in c and draw(st.booleans()) else c["code"]
    else:
        first = draw(st.sampled_from([f"{LOINC}|{c}" for c in CODES] + CODES))
    if second == "quantity":
        stored_value = element.get("valueQuantity", {}).get("value")
        number = str(stored_value) if stored_value is not None and draw(st.booleans()) else \
            draw(st.sampled_from(QTY_QUERIES))
        system, unit = draw(st.sampled_from(QTY_UNIT_QUERIES)) or (None, None)
        value = draw(st.sampled_from(NUMBER_PREFIXES)) + number + (f"|{system}|{unit}" if unit else "")
    elif second == "token":
        stored_codes = [c["code"] for c in element.get("valueCodeableConcept", {}).get("coding", ()) if "code" in c]
        value = draw(st.sampled_from(stored_codes or CODES))
    elif second == "date":
        when = element.get("valueDateTime")
        value = draw(st.sampled_from(DATE_PREFIXES)) + (when if when and draw(st.booleans()) else
                                                         draw(st.sampled_from(DATE_QUERIES)))
    else:
        text = element.get("valueString")
        value = escape(text[:3] if text and draw(st.booleans()) else draw(st.sampled_from(CC_TEXTS)))
    return f"{escape(first)}${value}"


# Concepts of R4's own code systems to search :below/:above with (heads of hierarchies, inner nodes
# and leaves), and value sets of them for :in/:not-in (enumerated, filtered by is-a, excluding, or
# importing other value sets).
CONCEPTS = [(CONFIDENTIALITY, c) for c in ("_Confidentiality", "R", "N", "V", "_ConfidentialityByAccessKind")] + \
    [(ACT_CODE, c) for c in ("_ActEncounterCode", "IMP", "ACUTE", "AMB")] + [(CATEGORY_CS, "vital-signs")]
VALUE_SETS = ["http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification",
              "http://hl7.org/fhir/ValueSet/security-labels",
              "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
              "http://hl7.org/fhir/ValueSet/observation-category",
              "http://hl7.org/fhir/ValueSet/observation-vitalsignresult",
              "http://hl7.org/fhir/ValueSet/encounter-status", "http://hl7.org/fhir/ValueSet/observation-status",
              "http://hl7.org/fhir/ValueSet/appointmentstatus", "http://hl7.org/fhir/ValueSet/medicationrequest-status",
              "http://hl7.org/fhir/ValueSet/administrative-gender"]


def _known_codes(t: Tok, found: list) -> list[tuple[str, str]]:
    """The stored (system, code) pairs of a code system the server knows."""
    systems = terminology()["codeSystems"]
    return [(c.system, c.code) for n in found for c in coded(n, t.implicit)
            if c.system in systems and c.code in systems[c.system]["codes"]]


def _in_hierarchy(t: Tok, found: list) -> bool:
    """Some stored code has concepts under or over it."""
    systems = terminology()["codeSystems"]
    return any(systems[s]["children"].get(c) or any(c in kids for kids in systems[s]["children"].values())
               for s, c in _known_codes(t, found))


@st.composite
def concept_query(draw, t: Tok, found: list, modifier: str) -> str:
    """A value set URL (:in, :not-in) or a system|code of a code system the server knows (:below,
    :above): a code it does not define is a 400, so only defined codes are drawn."""
    stored_codes = _known_codes(t, found)
    if modifier in ("in", "not-in"):
        holding = [vs for vs in VALUE_SETS if any(in_value_set(vs, s, c) for s, c in stored_codes)]
        return draw(st.sampled_from(draw(st.sampled_from([holding, holding, VALUE_SETS])) or VALUE_SETS))
    systems = terminology()["codeSystems"]
    # What makes :below/:above more than equality: concepts over (under) the stored codes.
    related = [(s, other) for s, c in stored_codes for other in systems[s]["codes"]
               if other != c and (is_a(s, c, other) if modifier == "below" else is_a(s, other, c))]
    pool = draw(st.sampled_from([related, related, stored_codes, CONCEPTS]))
    if t.implicit in systems:
        pool = pool + [(t.implicit, c) for c in t.codes if c in systems[t.implicit]["codes"]]
    system, code = draw(st.sampled_from(pool or CONCEPTS))
    return f"{escape(system)}|{escape(code)}"


@st.composite
def clause(draw, type_name: str, w: World, resources: list[dict]) -> Clause:
    if type_name == "Observation" and draw(st.integers(0, 5)) == 0:
        code = draw(st.sampled_from(sorted(c for c in COMPOSITES if c in catalog.supported("Observation"))))
        n = draw(st.sampled_from([1, 1, 2]))
        return Clause(code, None, tuple(draw(composite_value(code, resources)) for _ in range(n)))
    code = draw(st.sampled_from(sorted(SEARCHED[type_name])))
    kind = SEARCHED[type_name][code]
    found = stored(resources, code)
    if draw(st.integers(0, 9)) == 0:
        return Clause(code, "missing", (draw(st.sampled_from(["true", "false"])),))
    n = draw(st.sampled_from([1, 1, 1, 2, 3]))
    if isinstance(kind, Phon):
        return Clause(code, None, tuple(escape(draw(st.sampled_from(kind.words))) for _ in range(n)))
    if isinstance(kind, Str):
        modifier = draw(st.sampled_from([None, None, "exact", "contains"]))
        values = draw(st.lists(string_query(kind.words, found), min_size=n, max_size=n))
        return Clause(code, modifier, tuple(escape(v) for v in values))
    if isinstance(kind, Tok):
        modifiers = [None, None, None, "not"]
        if kind.texts:
            modifiers.append("text")
        if kind.kind == "identifier":
            modifiers.append("of-type")
        if kind.kind in ("coding", "code"):
            modifiers += ["below", "above", "in", "not-in"]
            if _in_hierarchy(kind, found):   # stored codes with concepts over or under them
                modifiers += ["below", "above", "in"]
        modifier = draw(st.sampled_from(modifiers))
        if modifier in ("below", "above", "in", "not-in"):
            return Clause(code, modifier, tuple(draw(concept_query(kind, found, modifier))
                                                for _ in range(1 if modifier == "not-in" else n)))
        if modifier == "not":
            return Clause(code, modifier, (draw(token_query(kind, resources, found)),))
        if modifier == "text":
            texts = tuple(t for nd in found for t in token_texts(nd)) or kind.texts
            values = [escape(draw(string_query(kind.texts, [Node("string", t) for t in texts]))) for _ in range(n)]
        elif modifier == "of-type":
            values = [f"{V2_0203}|{draw(st.sampled_from([c for c, _ in ID_TYPES] + ['XX']))}|"
                      f"{escape(draw(st.sampled_from([nd.value['value'] for nd in found] + ID_VALUES)))}"
                      for _ in range(n)]
        else:
            values = [draw(token_query(kind, resources, found)) for _ in range(n)]
        return Clause(code, modifier, tuple(values))
    if isinstance(kind, Dt):
        return Clause(code, None, tuple(draw(date_query(code, resources, found)) for _ in range(n)))
    if isinstance(kind, Qty):
        return Clause(code, None, tuple(draw(quantity_query(kind, found)) for _ in range(n)))
    if isinstance(kind, Uri):
        modifier = draw(st.sampled_from([None, None, "below", "above"]))
        return Clause(code, modifier, tuple(escape(draw(uri_query(kind, modifier))) for _ in range(n)))
    if isinstance(kind, Ref):
        chainable = [t for t in kind.types if t in CHAIN_TARGETS and w.refs.get(t)]
        if chainable and draw(st.integers(0, 3)) == 0:
            target = draw(st.sampled_from(chainable))
            return Clause(code, target, (), draw(chained(target, n)))
        picks = [draw(reference_query(kind, w, found)) for _ in range(n)]
        modifier = picks[0][0]
        return Clause(code, modifier, tuple(escape(v) for m, v in picks if m == modifier))
    raise AssertionError(kind)


# `patient` parameters answered from the subject column: an absolute URL value naming a Group matched
# (fixed; the regression tests below run for each).
PATIENT_FROM_SUBJECT = {"Observation", "Encounter", "MedicationRequest"}


# --- running searches -------------------------------------------------------------------------

async def search_ids(http, w: World, type_name: str, clauses: list[Clause | Has], count: int) -> set[str]:
    params = [c.item() for c in clauses] + [("_count", str(count))]
    r = await http.get(f"/{w.slug}/{type_name}", params=params, headers=STRICT)
    assert r.status_code == 200, f"GET {r.request.url}\n{show(r.content)}"
    ids: list[str] = []
    while True:
        bundle = r.json()
        ids += [e["resource"]["id"] for e in bundle.get("entry", ())
                if e.get("search", {}).get("mode", "match") == "match"]
        nxt = [link["url"] for link in bundle.get("link", ()) if link["relation"] == "next"]
        if not nxt:
            break
        r = await http.get(nxt[0], headers=STRICT)
        assert r.status_code == 200, show(r.content)
    assert len(ids) == len(set(ids)), f"duplicate ids in the result: {ids}"
    return set(ids)


def _kind_name(type_name: str, c: Clause | Has) -> str:
    if isinstance(c, Has):
        return f"has:{c.source}.{c.ref}:{_kind_name(c.source, c.inner)}"
    if c.chain is not None:
        return f"chain:{c.modifier}.{c.chain.item()[0]}"
    if c.code in COMPOSITES:
        return f"composite:{c.code}"
    kind = SEARCHED[type_name].get(c.code)
    return f"{type(kind).__name__}{'/' + kind.kind if isinstance(kind, Tok) else ''}:{c.modifier or ''}"


def _show(r: dict) -> str:
    return json.dumps({k: v for k, v in r.items() if k not in ("meta", "id")}, ensure_ascii=False, default=str)


def _explain(resources: list[dict], clauses: list[Clause | Has], w: World, depth: int = 0) -> str:
    lines = []
    for r in resources:
        lines.append(f"{'    ' * depth}  {r['resourceType']}/{r['id']}: {_show(r)}")
        for c in clauses:
            if isinstance(c, Has):
                me = f"{r['resourceType']}/{r['id']}"
                referring = [x for x in w.stored.of_type(c.source) if me in w.stored.links(x, c.ref, w.base)]
                lines.append(f"{'    ' * depth}      referred to by {len(referring)} {c.source} through {c.ref}:")
                lines.append(_explain(referring, [c.inner], w, depth + 1))
            elif c.code != "_tag":
                lines.append(f"{'    ' * depth}      {c.code} selects {[(n.type, n.value) for n in nodes(r, c.code)]}")
    return "\n".join(line for line in lines if line)


def _uses_ap(clauses: list[Clause | Has]) -> bool:
    """Some value of the clauses (or a composite's part) has the prefix ap."""
    return any(re.search(r"(?:^|[,$])ap[-+.\d]", c.item()[1]) for c in clauses)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def check(http, w: World, type_name: str, resources: list[dict], clauses: list[Clause | Has],
                count: int) -> None:
    """The server's ids must be the oracle's; with `ap` on a date, anything between the oracle's
    narrowest and widest answer for the time the search took."""
    earliest = _now()
    got = await search_ids(http, w, type_name, clauses, count)
    latest = _now()
    try:
        if _uses_ap(clauses):
            narrow, wide = expected_range(resources, clauses, Context(w.base, w.stored), earliest, latest)
        else:
            narrow = wide = expected_ids(resources, clauses, Context(w.base, w.stored))
    except Ambiguous as exc:
        event(f"R4 ambiguous, not compared: {exc}")
        return
    share = "none" if not wide else "all" if len(narrow) == len(resources) else "some"
    for c in clauses[:-1]:
        event(f"{_kind_name(type_name, c)} -> {share}")
    if _uses_ap(clauses[:-1]):
        event(f"with ap -> {share}")
    if narrow != wide:
        event("ap on a date: the clock decides some ids")
    if not narrow <= got <= wide:
        query = "&".join(f"{k}={v}" for k, v in (c.item() for c in clauses)) + f"&_count={count}"
        oracle = f"oracle: {sorted(narrow)}" if narrow == wide else \
            f"oracle: at least {sorted(narrow)}, at most {sorted(wide)}"
        pytest.fail(f"GET /{type_name}?{query}\n"
                    f"{oracle}\nserver: {sorted(got)}\n"
                    f"missing: {sorted(narrow - got)}  extra: {sorted(got - wide)}\n"
                    f"resources:\n{_explain(resources, clauses, w)}")


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


@pytest.mark.parametrize("type_name", sorted(BUILDERS))
@SETTINGS
@given(data=st.data())
async def test_search_returns_what_the_oracle_says(http, world, type_name, data):
    tag = {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}
    bodies = data.draw(st.lists(BUILDERS[type_name](world), min_size=3, max_size=7), label="resources")
    for body in bodies:
        body["meta"] = data.draw(meta(tag), label="meta")
    resources = await create_all(http, world, bodies)
    by_tag = Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))
    for i in range(QUERIES_PER_EXAMPLE):
        clauses = data.draw(st.lists(clause(type_name, world, resources), min_size=1, max_size=2), label=f"query {i}")
        count = data.draw(st.sampled_from([1000, 1000, 1000, 2]), label="page size")   # 2: follow `next`
        note(f"query {i}: " + "&".join(str(c) for c in clauses))
        await check(http, world, type_name, resources, [*clauses, by_tag], count)


# --- reverse chains (_has) ------------------------------------------------------------------------

@st.composite
def named(draw, type_name: str, w: World) -> dict:
    """A Practitioner (a HumanName), Organization or Location (a name), now and then identifiers."""
    r = {"resourceType": type_name}
    if type_name == "Practitioner":
        r["name"] = [draw(human_name())]
    else:
        r["name"] = draw(st.sampled_from(["Org A", "Ward 1", "Zed"]))
    _put(r, "identifier", draw(identifiers()))
    return r


# The types a _has search returns here (the ones the six builders' references point at), with a
# builder of candidates for each.
HAS_TARGETS = {"Patient": patient, "Encounter": encounter,
               **{t: partial(named, t) for t in ("Practitioner", "Organization", "Location")}}


def _referrers(target: str) -> tuple[tuple[str, str], ...]:
    """(type, reference parameter) of the searched parameters whose R4 definition lets them point
    at `target` (`_has:[type]:[parameter]:...` on `target`)."""
    return tuple((s, code) for s in sorted(BUILDERS) for code, kind in sorted(SEARCHED[s].items())
                 if isinstance(kind, Ref) and target in params_for(s)[code].targets)


REFERRERS = {t: _referrers(t) for t in HAS_TARGETS}


async def referring(http, w: World, data, targets: list[str], tag: dict, sizes: tuple[int, int],
                    label: str) -> list[dict]:
    """Create resources of types that may refer to `targets` (built in world `w`, whose references
    may point at them), tagged like the candidates."""
    types = sorted({s for t in targets for s, _ in REFERRERS[t]})
    if not types:
        return []
    bodies = []
    for type_name in data.draw(st.lists(st.sampled_from(types), min_size=sizes[0], max_size=sizes[1]), label=label):
        body = data.draw(BUILDERS[type_name](w), label=type_name)
        body["meta"] = data.draw(meta(tag), label="meta")
        bodies.append(body)
    return await create_all(http, w, bodies)


@st.composite
def has_clause(draw, target: str, w: World, sources: dict[str, list[dict]], mine: set[str],
               nested: bool = True) -> Has:
    """`_has:[type]:[ref]:[inner]` on `target`: a type of which this example created resources, one of
    its reference parameters that may point at `target` (mostly one through which some of them do
    point at this example's resources), and as inner a clause of the main property on those
    resources, or (once) another _has on them."""
    pairs = [(s, r) for s, r in REFERRERS[target] if sources.get(s)]
    linked = {(s, r): [x for x in sources[s] if w.stored.links(x, r, w.base) & mine] for s, r in pairs}
    linked = {pair: xs for pair, xs in linked.items() if xs}
    if linked and draw(st.integers(0, 3)):
        source, ref = draw(st.sampled_from(sorted(linked)))
        values_from = linked[(source, ref)]
    else:
        source, ref = draw(st.sampled_from(pairs))
        values_from = sources[source]
    deeper = [s for s, _ in REFERRERS.get(source, ()) if sources.get(s)]
    if nested and deeper and draw(st.integers(0, 2)) == 0:
        return Has(source, ref, draw(has_clause(source, w, sources, mine, nested=False)))
    if draw(st.integers(0, 3)) == 0:   # some of those resources by id: the reference alone decides
        ids = draw(st.lists(st.sampled_from([x["id"] for x in values_from]), min_size=1, max_size=2, unique=True))
        return Has(source, ref, Clause("_id", None, tuple(ids)))
    return Has(source, ref, draw(clause(source, w, values_from)))


@SETTINGS
@given(data=st.data())
async def test_reverse_chains_return_what_the_oracle_says(http, world, data):
    target = data.draw(st.sampled_from(sorted(HAS_TARGETS)), label="searched type")
    tag = {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}
    bodies = data.draw(st.lists(HAS_TARGETS[target](world), min_size=2, max_size=4), label="candidates")
    for body in bodies:
        body["meta"] = data.draw(meta(tag), label="meta")
    candidates = await create_all(http, world, bodies)
    near = world.pointing_at(target, [r["id"] for r in candidates])
    first = await referring(http, near, data, [target], tag, (2, 6), "referring")
    # A second level, referring to the first level's Patients and Encounters: nested _has.
    far, middle = near, sorted({r["resourceType"] for r in first} & set(REFERRERS))
    for type_name in middle:
        far = far.pointing_at(type_name, [r["id"] for r in first if r["resourceType"] == type_name])
    second = await referring(http, far, data, middle, tag, (0, 4), "referring to those")
    sources: dict[str, list[dict]] = {}
    for r in first + second:
        sources.setdefault(r["resourceType"], []).append(r)
    # The tag is on the referring resources too: those of the searched type are candidates as well.
    searched = candidates + sources.get(target, [])
    mine = {f"{r['resourceType']}/{r['id']}" for r in candidates + first + second}
    by_tag = Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))
    for i in range(QUERIES_PER_EXAMPLE):
        n = data.draw(st.sampled_from([1, 1, 1, 2]), label="_has clauses")
        clauses: list[Clause | Has] = [data.draw(has_clause(target, far, sources, mine), label=f"query {i}")
                                       for _ in range(n)]
        if target in SEARCHED and data.draw(st.integers(0, 3)) == 0:
            clauses.append(data.draw(clause(target, far, searched), label="and"))
        count = data.draw(st.sampled_from([1000, 1000, 1000, 2]), label="page size")
        note(f"query {i}: " + "&".join(str(c) for c in clauses))
        await check(http, world, target, searched, [*clauses, by_tag], count)


# --- the ap tolerance, close up ----------------------------------------------------------------------
# In the property above, `ap` meets stored values near its tolerance only now and then. Here every
# resource lies at a chosen distance from the searched value: a share of the value for numbers, a
# share of the gap between now and the date for dates, on both sides of 10% (never on it).

AP_NUMBERS = ["100", "5.4", "250", "0.75", "-40", "1000.0", "12"]
AP_DATES = ["1970", "1971-02", "1990-06-15", "2020-03-15T10:00:00Z", "2021-01-01T00:00:00+02:00", "2024-06"]
AP_SHARES = [Decimal(x) for x in ("0", "0.01", "0.05", "0.09", "0.098", "0.102", "0.11", "0.15", "0.3")]


def _instant(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def near_ap(draw, number: str, date: str, now: datetime) -> dict:
    """An Observation whose valueQuantity lies a drawn share of `number` away from it (either side),
    and whose effective[x] (an instant, or a Period of two) a drawn share of the gap between now and
    `date` before the start or after the end of `date`'s range."""
    r = {"resourceType": "Observation", "status": "final", "code": {"text": "ap"}}
    share = draw(st.sampled_from(AP_SHARES)) * draw(st.sampled_from([1, -1]))
    value = (Decimal(number) * (1 + share)).quantize(Decimal("0.0001"))
    r["valueQuantity"] = {"value": DecimalText(str(value)), "unit": "mg", "system": UCUM, "code": "mg"}
    start, end = date_interval(date)
    gap = abs(now - start)

    def when() -> str:
        share = float(draw(st.sampled_from(AP_SHARES)))
        return _instant(start - gap * share if draw(st.booleans()) else end + gap * share)
    shape = draw(st.sampled_from(["instant", "instant", "period", "none"]))
    if shape == "instant":
        r["effectiveDateTime"] = when()
    elif shape == "period":
        a, b = sorted([when(), when()])
        r["effectivePeriod"] = {"start": a, "end": b}
    return r


@SETTINGS
@given(data=st.data())
async def test_ap_tolerance_returns_what_the_oracle_says(http, world, data):
    number = data.draw(st.sampled_from(AP_NUMBERS), label="number")
    date = data.draw(st.sampled_from(AP_DATES), label="date")
    tag = {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}
    bodies = data.draw(st.lists(near_ap(number, date, _now()), min_size=3, max_size=6), label="resources")
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))
    unit = data.draw(st.sampled_from(["", f"|{UCUM}|mg", "||mg"]), label="unit")
    for clauses in ([Clause("value-quantity", None, (f"ap{number}{unit}",))], [Clause("date", None, (f"ap{date}",))],
                    [Clause("value-quantity", None, (f"ap{number}",)), Clause("date", None, (f"ap{date}",))]):
        note("&".join(str(c) for c in clauses))
        await check(http, world, "Observation", resources, [*clauses, by_tag], 1000)


# --- phonetic, close up -------------------------------------------------------------------------
# Names that sound alike under some encoders and not others (Soundex joins Jones and James,
# Metaphone joins Catherine and Kathryn), several parts and words to a name, a name with no
# family or given part; searched by names from the pool and spellings of them.

SOUND_NAMES = ["Smith", "Smyth", "Schmidt", "Jones", "James", "Catherine", "Kathryn", "Smith-Jones", "O'Brien",
               "Brian", "Meyer", "Maier", "Zoë", "Thompson"]
SOUND_QUERIES = [*SOUND_NAMES, "Smithe", "JONES", "katharine", "Obrien", "Tomson", "Mayer", "zoe", "Jo", "x"]


@st.composite
def sounding_patient(draw) -> dict:
    names = []
    for _ in range(draw(st.integers(0, 2))):
        n = {}
        _put(n, "family", draw(maybe(st.sampled_from(SOUND_NAMES), 0.8)))
        _put(n, "given", draw(st.lists(st.sampled_from(SOUND_NAMES), max_size=2)))
        names.append(n if n else {"prefix": ["Dr"]})
    return {"resourceType": "Patient", **({"name": names} if names else {})}


@SETTINGS
@given(data=st.data())
async def test_phonetic_returns_what_the_oracle_says(http, world, data):
    tag = {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}
    bodies = data.draw(st.lists(sounding_patient(), min_size=2, max_size=6), label="resources")
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))
    for _ in range(QUERIES_PER_EXAMPLE):
        if data.draw(st.integers(0, 7), label="missing?") == 0:
            clause = Clause("phonetic", "missing", (data.draw(st.sampled_from(["true", "false"])),))
        else:
            words = data.draw(st.lists(st.sampled_from(SOUND_QUERIES), min_size=1, max_size=2), label="values")
            clause = Clause("phonetic", None, tuple(escape(w) for w in words))
        note(str(clause))
        await check(http, world, "Patient", resources, [clause, by_tag], 1000)


# --- partition filing, close up ------------------------------------------------------------------
# A range-valued partitioning date (an Encounter's period, an Observation's effective[x], a
# MedicationRequest's authoredOn at year or month precision) files its row under its last instant,
# and date searches prune months by that (searchparams/partitions.py). Here the ranges span months
# and years or are open at either end, and the searched dates fall inside, between and around them.

OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
MEDICATION_REQUEST = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                      "medicationCodeableConcept": {"text": "m"}, "subject": {"reference": f"{OTHER}/Patient/x1"}}
SPAN_DATES = ["2018", "2019-11", "2019-12-31", "2020-01-15T10:00:00Z", "2020-02", "2020-06-30T23:59:59Z", "2021",
              "2023-05-02"]
SPAN_QUERIES = [*SPAN_DATES, "2018-06-15", "2018-11", "2019", "2019-11-20", "2020-02-10", "2020-03", "2020-04-15",
                "2021-07", "2022", "2030", "1990-01-01"]
_SPANNED = {
    "Encounter": lambda p: {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "period": p},
    "Observation": lambda p: {**OBSERVATION, "effectivePeriod": p},
    "MedicationRequest": lambda p: {**MEDICATION_REQUEST, "authoredOn": p.get("start") or p.get("end")},
}


@pytest.mark.parametrize("type_name", sorted(_SPANNED))
@SETTINGS
@given(data=st.data())
async def test_ranges_filed_by_their_end_are_found_by_every_prefix(http, world, type_name, data):
    tag = {"system": TAG_SYSTEM, "code": uuid.uuid4().hex}
    bodies = [_SPANNED[type_name](data.draw(period(SPAN_DATES), label="range")) for _ in range(data.draw(
        st.integers(3, 6), label="how many"))]
    for body in bodies:
        body["meta"] = {"tag": [tag]}
    resources = await create_all(http, world, bodies)
    by_tag = Clause("_tag", None, (f"{escape(TAG_SYSTEM)}|{tag['code']}",))
    for _ in range(QUERIES_PER_EXAMPLE):
        values = data.draw(st.lists(st.tuples(st.sampled_from(DATE_PREFIXES), st.sampled_from(SPAN_QUERIES)),
                                    min_size=1, max_size=2), label="values")
        clause = Clause(MAPPINGS[type_name].partition_param, None, tuple(p + v for p, v in values))
        note(str(clause))
        await check(http, world, type_name, resources, [clause, by_tag], 1000)


def test_every_searched_parameter_is_supported():
    """The generator only searches parameters the server declares supported, with their R4 type."""
    for type_name, params in SEARCHED.items():
        supported = catalog.supported(type_name)
        for code, kind in params.items():
            assert code in supported, (type_name, code)
            want = {Str: ("string",), Phon: ("string",), Tok: ("token",), Dt: ("date",), Qty: ("quantity", "number"),
                    Ref: ("reference",), Uri: ("uri",)}
            assert supported[code].type in want[type(kind)], (type_name, code, supported[code].type)


# --- regression tests: one minimal case per deviation the property found ---------------------
# Each runs in the `default` tenant under a fresh tag and states R4's answer itself; the oracle must
# agree with it (a plain assertion), and the server's answer must too (`Deviation`). A deviation
# found and not yet fixed would be a strict xfail raising only `Deviation` (none is open).

DEFAULT_BASE = f"{PUBLIC_BASE}/default"     # the `fhir` fixture's base


class Deviation(AssertionError):
    """The server's answer differs from what R4 requires."""


def fixed(was: str):
    """A deviation the property found that has since been fixed; `was` says what the server did."""
    return lambda test: test


class Case:
    """The resources of one regression test, under a tag of their own."""

    def __init__(self, fhir) -> None:
        self.fhir, self.tag, self.stored = fhir, uuid.uuid4().hex, []

    async def create(self, body: dict) -> str:
        sent = dumps({**body, "meta": {"tag": [{"system": TAG_SYSTEM, "code": self.tag}]}})
        r = await self.fhir.post(f"/{body['resourceType']}", content=sent)
        assert r.status_code == 201, f"{show(sent)}\n{show(r.content)}"
        self.stored.append(json.loads(r.content, parse_float=Decimal))
        return self.stored[-1]["id"]

    async def expect(self, type_name: str, key: str, value: str, want: set[str]) -> None:
        code, _, modifier = key.partition(":")
        clause = Clause(code, modifier or None, tuple(split_values(value)))
        mine = [r for r in self.stored if r["resourceType"] == type_name]
        assert expected_ids(mine, [clause], Context(DEFAULT_BASE)) == want, \
            f"the oracle disagrees with this test: {key}={value}"
        r = await self.fhir.get(f"/{type_name}", headers=STRICT, params=[
            (key, value), ("_tag", f"{TAG_SYSTEM}|{self.tag}"), ("_count", "1000")])
        assert r.status_code == 200, show(r.content)
        got = {e["resource"]["id"] for e in r.json().get("entry", ())}
        if got != want:
            raise Deviation(f"GET /{type_name}?{key}={value}: server {sorted(got)}, R4 {sorted(want)}")


WITHOUT = {"Patient": {"resourceType": "Patient"}, "Observation": OBSERVATION,
           "Encounter": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}}
CLAIM = {"resourceType": "Claim", "status": "active", "type": {"text": "t"}, "use": "claim",
         "patient": {"reference": f"{OTHER}/Patient/x1"}, "created": "2020-03-15",
         "provider": {"reference": f"{OTHER}/Organization/x1"}, "priority": {"text": "p"},
         "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"{OTHER}/Coverage/c1"}}]}


@pytest.mark.parametrize(("type_name", "code"), [("Patient", "birthdate"), ("Observation", "date"),
                                                 ("Encounter", "date")])
@fixed("ne/gt/lt/ge/le on a date answered from [start, end) columns also matched resources without the "
       "date: an absent element and an open end were both NULL")
async def test_date_comparison_does_not_match_resources_without_the_date(fhir, type_name, code):
    case = Case(fhir)
    await case.create(WITHOUT[type_name])
    for prefix in ("ne", "gt", "lt", "ge", "le"):
        await case.expect(type_name, code, f"{prefix}2020-03-15", set())


@pytest.mark.parametrize(("type_name", "element"), [("Encounter", "period"), ("Observation", "effectivePeriod")])
@fixed("date:missing on a date answered from [start, end) columns looked at the start only: a Period "
       "with only an end was reported missing")
async def test_date_missing_false_matches_a_period_without_start(fhir, type_name, element):
    case = Case(fhir)
    id_ = await case.create({**WITHOUT[type_name], element: {"end": "2020-03-16T00:00:00Z"}})
    await case.expect(type_name, "date:missing", "false", {id_})


@fixed("_id:not=X returned X: :not was answered from the side tables, where _id has no rows")
async def test_id_not_excludes_that_id(fhir):
    case = Case(fhir)
    a = await case.create({"resourceType": "Patient"})
    b = await case.create({"resourceType": "Patient"})
    await case.expect("Patient", "_id:not", a, {b})


@pytest.mark.parametrize("code", ["subject", "performer"])
@fixed("a reference search by this server's absolute URL ([base]/Patient/1) did not match the relative "
       "reference Patient/1")
async def test_search_by_this_servers_absolute_url_matches_a_relative_reference(fhir, code):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient"})
    o = await case.create({**OBSERVATION, "subject": {"reference": f"Patient/{p}"},
                           "performer": [{"reference": f"Patient/{p}"}]})
    await case.expect("Observation", code, f"{DEFAULT_BASE}/Patient/{p}", {o})


@pytest.mark.parametrize(("type_name", "code", "element"), [
    ("Observation", "subject", "subject"), ("Observation", "patient", "subject"), ("Claim", "patient", "patient")])
@fixed("an absolute reference to this server ([base]/Patient/1) was not found by Patient/1 when the "
       "parameter was answered from a resource-table column, which kept the URL as written")
async def test_absolute_reference_to_this_server_is_found_by_its_relative_form(fhir, type_name, code, element):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient"})
    body = {"Observation": OBSERVATION, "Claim": CLAIM}[type_name]
    id_ = await case.create({**body, element: {"reference": f"{DEFAULT_BASE}/Patient/{p}"}})
    await case.expect(type_name, code, f"Patient/{p}", {id_})


@fixed("value-string did not search (Observation.value as CodeableConcept).text, the second branch of its "
       "official expression")
async def test_value_string_matches_the_text_of_a_codeable_concept_value(fhir):
    case = Case(fhir)
    o = await case.create({**OBSERVATION, "valueCodeableConcept": {"text": "Weight"}})
    await case.expect("Observation", "value-string", "weight", {o})


APPOINTMENT_AT_10 = {"resourceType": "Appointment", "status": "booked", "start": "2020-03-15T10:00:00Z",
                     "end": "2020-03-15T11:00:00Z",
                     "participant": [{"actor": {"reference": f"{OTHER}/Patient/x1"}, "status": "accepted"}]}


@pytest.mark.parametrize(("type_name", "code", "body", "query", "matches"), [
    ("Claim", "created", {**CLAIM, "created": "2020-03"}, "gt2020-03-15", True),
    ("MedicationRequest", "authoredon", {**MEDICATION_REQUEST, "authoredOn": "2020"}, "eb2020-03-15T10:00:00Z", False),
    ("Appointment", "date", APPOINTMENT_AT_10, "gt2020-03-15T10:00:00.250Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "eq2020-03-15T10:00:00.250Z", False),
    ("Appointment", "date", APPOINTMENT_AT_10, "eq2020-03-15T10:00:00Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "lt2020-03-15T10:00:00.250Z", True),
    ("Appointment", "date", APPOINTMENT_AT_10, "gt2020-03-15T10:00:00Z", False),
])
@fixed("Claim.created and MedicationRequest.authoredOn (dateTimes) were compared as the start of a partial "
       "stored date: 2020-03 was the instant 2020-03-01T00:00Z instead of the whole month. Appointment.start (an "
       "instant, answered from one column) was compared as a point: 2020-03-15T10:00:00Z is precise to the "
       "second, the range [10:00:00, 10:00:01), so gt10:00:00.250Z must match it (search.html#date: gt - 'the "
       "range above the search value intersects the range of the target value')")
async def test_date_compares_the_range_of_a_partial_stored_date(fhir, type_name, code, body, query, matches):
    case = Case(fhir)
    id_ = await case.create(body)
    await case.expect(type_name, code, query, {id_} if matches else set())


@fixed("system| on a primitive code parameter never matched, although the code's system is the one its "
       "required binding names (search.html#token: code - 'the system is defined in the value set')")
async def test_system_only_token_matches_a_code_element_bound_to_that_system(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "gender": "male", "address": [{"use": "home", "city": "X"}]})
    await case.expect("Patient", "gender", "http://hl7.org/fhir/administrative-gender|", {p})      # column
    await case.expect("Patient", "address-use", "http://hl7.org/fhir/address-use|", {p})          # side table


@fixed("[system]|[code] on a primitive code parameter ignored the system: http://other.test/cs|male "
       "matched gender=male, whose system is http://hl7.org/fhir/administrative-gender")
async def test_code_element_does_not_match_another_system(fhir):
    case = Case(fhir)
    await case.create({"resourceType": "Patient", "gender": "male", "address": [{"use": "home", "city": "X"}]})
    await case.expect("Patient", "gender", "http://other.test/cs|male", set())
    await case.expect("Patient", "address-use", "http://other.test/cs|home", set())


@fixed("ContactPoint tokens were indexed with ContactPoint.system (phone, email) as their system; R4's "
       "token table gives ContactPoint no system (its URI column is empty, code is ContactPoint.value)")
async def test_contact_point_tokens_have_no_system(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "telecom": [{"system": "phone", "value": "555-1234"}]})
    await case.expect("Patient", "telecom", "|555-1234", {p})
    await case.expect("Patient", "telecom", "phone|555-1234", set())


@fixed("Observation?patient was answered from the subject column, so a Group subject counted as a patient "
       "(the expression is Observation.subject.where(resolve() is Patient))")
async def test_patient_does_not_match_a_group_subject(fhir):
    case = Case(fhir)
    o = await case.create({**OBSERVATION, "subject": {"reference": f"{OTHER}/Group/g1"}})
    await case.expect("Observation", "patient:missing", "true", {o})


@pytest.mark.parametrize("type_name", sorted(PATIENT_FROM_SUBJECT))
@fixed("patient:missing on a parameter answered from the subject column tested the column with a "
       "'Patient/' prefix range: a resource without any subject (NULL) was neither missing nor present "
       "(SQL NULL), and an absolute reference to a Patient (http://other/fhir/Patient/1, which "
       "resolve() is Patient selects) counted as missing")
async def test_patient_missing_follows_the_patient_subjects(fhir, type_name):
    case = Case(fhir)
    body = {"Observation": OBSERVATION, "Encounter": WITHOUT["Encounter"],
            "MedicationRequest": {k: v for k, v in MEDICATION_REQUEST.items() if k != "subject"}}[type_name]
    absolute = await case.create({**body, "subject": {"reference": f"{OTHER}/Patient/x1"}})
    if type_name != "MedicationRequest":      # where subject is optional
        none = await case.create(body)
        await case.expect(type_name, "patient:missing", "true", {none})
    await case.expect(type_name, "patient:missing", "false", {absolute})


@pytest.mark.parametrize("type_name", sorted(PATIENT_FROM_SUBJECT))
@fixed("patient=[absolute URL of a Group] matched a resource whose subject is that Group: the parameter is "
       "answered from the subject column and a URL value was not narrowed to the expression's types "
       "(Observation.subject.where(resolve() is Patient) selects no Group, so there is no value to match)")
async def test_patient_by_url_does_not_match_a_group_subject(fhir, type_name):
    case = Case(fhir)
    body = {"Observation": OBSERVATION, "Encounter": WITHOUT["Encounter"],
            "MedicationRequest": MEDICATION_REQUEST}[type_name]
    await case.create({**body, "subject": {"reference": f"{OTHER}/Group/g1"}})
    await case.expect(type_name, "patient", f"{OTHER}/Group/g1", set())


@pytest.mark.parametrize(("value", "query"), [("99.6", "eb100"), ("100.04", "sa100")])
@fixed("number/quantity sa and eb compared with the exact search value; the prefix table defines them on "
       "ranges ('the range of the search value does not overlap with the range of the target value, and the "
       "range above the search value contains the range of the target value'), and 100 is [99.5, 100.5)")
async def test_number_sa_eb_exclude_the_implied_range_of_the_search_value(fhir, value, query):
    case = Case(fhir)
    await case.create({**OBSERVATION, "valueQuantity": {"value": DecimalText(value)}})
    await case.expect("Observation", "value-quantity", query, set())


@fixed("a value ending in an escaped backslash, followed by the comma that separates values "
       "(identifier=y\\\\,abc), was not split there: the split looked only at the character before the comma, "
       "so the escaped backslash was taken for an escaped comma (search.html#escaping: '\\' is a literal "
       "backslash)")
async def test_an_escaped_backslash_before_a_comma_ends_the_value(fhir):
    case = Case(fhir)
    p = await case.create({"resourceType": "Patient", "identifier": [{"value": "y\\"}]})
    await case.expect("Patient", "identifier", "y\\\\,abc", {p})


@pytest.mark.parametrize(("value", "query"), [("0.3", "ap0"), ("1.2", "ap1")])
@fixed("number/quantity ap ignored the precision of the search value: ap0 was taken as exactly 0 (10% of 0) "
       "and ap1 as [0.9, 1.1], so 0.3 and 1.2 did not match, although they lie in the range of the search "
       "value ([-0.5, 0.5) and [0.5, 1.5), which eq0 and eq1 match). search.html#prefix reads ap on ranges "
       "as 'the range of the search value overlaps with the range of the target value', and "
       "search.html#number ignores the implicit precision only for 'lgt, lt, ge, le, sa & eb'")
async def test_number_ap_matches_the_implied_range_of_the_search_value(fhir, value, query):
    case = Case(fhir)
    id_ = await case.create({**OBSERVATION, "valueQuantity": {"value": DecimalText(value)}})
    await case.expect("Observation", "value-quantity", query, {id_})


@pytest.mark.parametrize(("code", "body"), [
    ("code-value-quantity", {**OBSERVATION, "code": {"coding": [{"code": "abc"}]},
                             "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM,
                                               "code": "mg"}}),
    ("combo-code-value-quantity", {**OBSERVATION, "component": [
        {"code": {"coding": [{"code": "abc"}]},
         "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM, "code": "mg"}}]}),
    ("component-code-value-quantity", {**OBSERVATION, "component": [
        {"code": {"coding": [{"code": "abc"}]},
         "valueQuantity": {"value": DecimalText("5.4"), "unit": "milligram", "system": UCUM, "code": "mg"}}]}),
])
@fixed("in a composite's quantity part, [number]||[unit] was compared with Quantity.code only; "
       "search.html#quantity: [number]||[code] matches 'either the code (code) or the stated human unit "
       "(unit)', and search.html#composite matches each part by its component's parameter type")
async def test_composite_quantity_matches_the_stated_human_unit(fhir, code, body):
    case = Case(fhir)
    id_ = await case.create(body)
    await case.expect("Observation", code, "abc$5.4||milligram", {id_})



@pytest.mark.parametrize("period", [{"start": "2020", "end": "2020"},
                                    {"start": "2020-03-15T10:00:00Z", "end": "2020-03-16T00:00:00Z"}])
@pytest.mark.parametrize("query", ["8480-6$2020", "8480-6$ne1970", "8480-6$gt2019"])
@fixed("code-value-date did not see a valuePeriod: its value-date component's expression is "
       "'value.as(DateTime) | value.as(Period)' (value-date alone found the same Period)")
async def test_composite_date_matches_a_period_value(fhir, period, query):
    case = Case(fhir)
    id_ = await case.create({**OBSERVATION, "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                             "valuePeriod": period})
    await case.expect("Observation", "code-value-date", query, {id_})
