"""Hypothesis strategies for valid FHIR R4 resources, driven by the official R4 JSON schema.

`resources(type_name)` builds a resource of that type from `fhirserver.spec.schema()`:
every `required` property, a small random subset of the others (at most one typed
form per choice element `value[x]`), arrays of one or two items, and a recursion
depth limit. Primitives follow their schema pattern, with real calendar dates and
printable text. Decimals are `DecimalText` values that keep their exact JSON text
("1.50", "-0.0", "2.5E3"); `dumps` writes them verbatim.

Left out on purpose: extensions, contained resources, narrative, `id`, `meta` and
the `_element` companions (`documents(type_name)` adds a client `meta` now and then).
References never point at local resources (the server checks referential integrity):
they carry only `display`/`identifier`/`type`, or an absolute URL on another server
(or a urn:uuid). Every generated resource passes `fhirserver.validation.validate`
(test_round_trip.py asserts it for each example) with no filtering.
"""

from __future__ import annotations

import base64
import calendar
from functools import cache

import orjson
from hypothesis import strategies as st

from fhirserver import spec
from fhirserver.spec.model import definitions

SKIPPED_PROPERTIES = frozenset({"extension", "modifierExtension", "contained", "text", "id", "meta"})
SKIPPED_TYPES = frozenset({"ResourceList", "Extension", "Narrative"})
MAX_DEPTH = 3
MAX_OPTIONAL = (6, 3, 2, 2)     # optional properties per object, by depth
MAX_ITEMS = 2

STORED_TYPES = ("Organization", "Location", "Practitioner", "Patient", "Encounter", "Observation",
                "Appointment", "MedicationRequest", "Claim", "AuditEvent")
# Types on the shared tables (mappings/generic.py): the clinical ones a patient record holds,
# then administrative, financial, workflow and conformance types: 32 of the 135.
GENERIC_TYPES = ("Condition", "Procedure", "Immunization", "AllergyIntolerance", "DiagnosticReport",
                 "DocumentReference", "Goal", "CarePlan", "CareTeam", "ServiceRequest", "MedicationStatement",
                 "MedicationAdministration", "MedicationDispense", "Medication", "FamilyMemberHistory",
                 "RiskAssessment", "Specimen", "ImagingStudy", "QuestionnaireResponse", "Questionnaire",
                 "Device", "Coverage", "ExplanationOfBenefit", "Account", "Invoice", "PractitionerRole",
                 "RelatedPerson", "HealthcareService", "Schedule", "Slot", "Task", "Provenance")


# --- JSON with verbatim decimals ----------------------------------------------------------------

class DecimalText(str):
    """A FHIR decimal given by its exact JSON text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Dec({str(self)})"


def _default(value: object) -> object:
    if isinstance(value, DecimalText):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(resource: object, *, indent: bool = False, ascii_only: bool = False) -> bytes:
    """The JSON bytes of a generated resource, decimals written as their own text; optionally
    indented, and with every non-ASCII character as a \\uXXXX escape (surrogate pairs beyond
    the BMP). Non-ASCII characters only occur inside JSON strings, so escaping the text is safe."""
    option = orjson.OPT_PASSTHROUGH_SUBCLASS | (orjson.OPT_INDENT_2 if indent else 0)
    raw = orjson.dumps(resource, default=_default, option=option)
    if ascii_only:
        raw = _escape_ascii(raw.decode())
    return raw


def _escape_ascii(text: str) -> bytes:
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out).encode("ascii")


# --- primitives -----------------------------------------------------------------------------------

_ASCII = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:;'/()&+#%*!?"
                         '"\\<>')
# Printable non-whitespace characters of any script. Unicode whitespace other than the plain
# space (NBSP, U+2028, ...) is outside the schema's `[ \r\n\t\S]`, control characters are
# forbidden in FHIR strings, surrogates are not UTF-8.
_UNICODE = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S"))
_ASCII_WORD = st.text(_ASCII, min_size=1, max_size=8)
_ANY_WORD = st.text(st.one_of(_ASCII, _UNICODE), min_size=1, max_size=8)
_WORD = st.one_of(_ASCII_WORD, _ASCII_WORD, _ASCII_WORD, _ANY_WORD)     # mostly readable


@st.composite
def _string(draw) -> str:
    """1-3 words with single or occasional multiple spaces, sometimes a newline or tab."""
    words = draw(st.lists(_WORD, min_size=1, max_size=3))
    out = words[0]
    for w in words[1:]:
        out += draw(st.sampled_from([" ", " ", " ", "  ", "\n", "\t"])) + w
    return out


@st.composite
def _code(draw) -> str:
    words = draw(st.lists(st.text(_ASCII, min_size=1, max_size=8), min_size=1, max_size=2))
    return " ".join(words)


_HOSTS = st.sampled_from(["http://example.org", "https://terminology.example.com", "http://loinc.org",
                          "http://hl7.org/fhir", "https://other.server.example/fhir/R4"])
_SEGMENT = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"),
                   min_size=1, max_size=10)


@st.composite
def _uri(draw) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(_HOSTS) + "".join("/" + s for s in draw(st.lists(_SEGMENT, max_size=3)))
    if kind == 1:
        return draw(_oid())
    if kind == 2:
        return "urn:uuid:" + str(draw(st.uuids()))
    return draw(st.text(st.one_of(_ASCII, _UNICODE), min_size=1, max_size=16))   # any non-space text


def _oid():
    return st.lists(st.integers(0, 99999), min_size=1, max_size=5).flatmap(
        lambda arcs: st.integers(0, 2).map(lambda first: "urn:oid:" + ".".join(map(str, [first, *arcs]))))


def _external_reference():
    """An absolute reference to another server (or a urn): never checked against this tenant."""
    url = st.builds(lambda host, kind, ident: f"{host}/{kind}/{ident}", _HOSTS,
                    st.sampled_from(sorted(spec.resource_types())),
                    st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True))
    return st.one_of(url, url, url, st.uuids().map(lambda u: f"urn:uuid:{u}"))


def _base64():
    return st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode())


_YEAR = st.one_of(st.integers(1990, 2030), st.integers(1990, 2030), st.integers(1800, 2100),
                  st.integers(1, 9999))


@st.composite
def _ymd(draw) -> tuple[int, int, int]:
    year, month = draw(_YEAR), draw(st.integers(1, 12))
    return year, month, draw(st.integers(1, calendar.monthrange(year, month)[1]))


@st.composite
def _time(draw) -> str:
    text = f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}"
    if draw(st.booleans()):
        text += "." + draw(st.text(st.sampled_from("0123456789"), min_size=1, max_size=9))
    return text


@st.composite
def _zone(draw) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return "Z"
    if kind == 1:
        return draw(st.sampled_from(["+14:00", "-14:00", "+00:00", "-00:00", "+13:59", "-12:00"]))
    hours, minutes = draw(st.integers(0, 13)), draw(st.sampled_from([0, 15, 30, 45, 59]))
    return f"{draw(st.sampled_from('+-'))}{hours:02d}:{minutes:02d}"


@st.composite
def _date(draw) -> str:
    y, m, d = draw(_ymd())
    precision = draw(st.integers(0, 4))
    if precision == 0:
        return f"{y:04d}"
    if precision == 1:
        return f"{y:04d}-{m:02d}"
    return f"{y:04d}-{m:02d}-{d:02d}"


@st.composite
def _instant(draw) -> str:
    y, m, d = draw(_ymd())
    return f"{y:04d}-{m:02d}-{d:02d}T{draw(_time())}{draw(_zone())}"


@st.composite
def _date_time(draw) -> str:
    return draw(_instant()) if draw(st.booleans()) else draw(_date())


@st.composite
def _decimal(draw) -> DecimalText:
    """Decimal text as FHIR JSON allows it: trailing zeros ("1.50", "0.000"), exponents
    ("2.5E3"), negative zero ("-0", "-0.0"), more digits than a double holds."""
    whole = draw(st.one_of(st.integers(0, 999), st.integers(0, 999), st.integers(0, 10 ** 12),
                           st.integers(10 ** 15, 10 ** 20)))      # 16+ digits: beyond a double
    text = str(whole)
    if draw(st.integers(0, 3)):
        digits = draw(st.text(st.sampled_from("0123456789"), min_size=1, max_size=6))
        zeros = "0" * draw(st.sampled_from([0, 0, 1, 2]))
        text += "." + digits + zeros
    negative = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        sign = draw(st.sampled_from(["", "+", "-"]))
        text += draw(st.sampled_from("eE")) + sign + str(draw(st.integers(0, 20)))
    return DecimalText(("-" if negative else "") + text)


_INT32 = (-(2 ** 31), 2 ** 31 - 1)


@st.composite
def _integer(draw) -> int | DecimalText:
    """A 32-bit integer; now and then "-0", which the integer pattern -?([0]|...) allows."""
    if draw(st.integers(0, 19)) == 0:
        return DecimalText("-0")
    return draw(st.integers(*_INT32))


_PRIMITIVES = {
    "boolean": st.booleans(),
    "integer": _integer(),
    "unsignedInt": st.integers(0, _INT32[1]),
    "positiveInt": st.integers(1, _INT32[1]),
    "decimal": _decimal(),
    "string": _string(),
    "markdown": _string(),
    "code": _code(),
    "id": st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True),
    "uri": _uri(),
    "url": _uri(),
    "canonical": _uri(),
    "oid": _oid(),
    "uuid": st.uuids().map(lambda u: f"urn:uuid:{u}"),
    "base64Binary": _base64(),
    "date": _date(),
    "dateTime": _date_time(),
    "instant": _instant(),
    "time": _time(),
}


@cache
def _primitive_by_pattern() -> dict[tuple[str | None, str | None], str]:
    """Inline typed choice forms (`valueBoolean: {type, pattern}`) -> primitive name."""
    defs = spec.schema()["definitions"]
    out: dict[tuple[str | None, str | None], str] = {}
    for name in reversed(list(_PRIMITIVES)):          # earlier names win ("string" over "markdown")
        body = defs[name]
        out[(body.get("type"), body.get("pattern"))] = name
    out[("string", r"^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$")] = "base64Binary"
    return out


# --- the schema walk ------------------------------------------------------------------------------

def _is_primitive(name: str) -> bool:
    return "properties" not in spec.schema()["definitions"][name]


def _value_strategy(owner: str, prop: str, body: dict, depth: int):
    """A strategy for one value (not the array) of property `prop` of definition `owner`."""
    if owner == "Reference" and prop == "reference":
        return _external_reference()
    if "const" in body:
        return st.just(body["const"])
    if "enum" in body:
        return st.sampled_from(body["enum"])
    ref = body.get("$ref")
    if ref:
        target = ref.rsplit("/", 1)[1]
        if _is_primitive(target):
            return _PRIMITIVES[target]
        return element(target, depth + 1)
    name = _primitive_by_pattern().get((body.get("type"), body.get("pattern")))
    if name is None:
        raise LookupError(f"no strategy for {owner}.{prop}: {body}")
    return _PRIMITIVES[name]


def _property_strategy(owner: str, prop: str, depth: int):
    body = spec.schema()["definitions"][owner]["properties"][prop]
    if body.get("type") == "array":
        item = _value_strategy(owner, prop, body["items"], depth)
        return st.lists(item, min_size=1, max_size=MAX_ITEMS)
    return _value_strategy(owner, prop, body, depth)


def _target(body: dict) -> str | None:
    ref = body.get("$ref") or body.get("items", {}).get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


@cache
def _slots(name: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[bool, ...]]:
    """(required properties, optional slots, slot-is-primitive) of a definition. A slot is one
    property, or all typed forms of one choice element (of which at most one is drawn)."""
    body = spec.schema()["definitions"][name]
    props = body["properties"]
    usable = [p for p, v in props.items()
              if not p.startswith("_") and p not in SKIPPED_PROPERTIES and p != "resourceType"
              and _target(v) not in SKIPPED_TYPES]
    required = tuple(p for p in body.get("required", ()) if p in usable)
    choices = definitions()[name].choices
    slots: list[tuple[str, ...]] = []
    seen_bases: dict[str, int] = {}
    for p in usable:
        if p in required:
            continue
        base = choices.get(p)
        if base is None:
            slots.append((p,))
        elif base in seen_bases:
            i = seen_bases[base]
            slots[i] = slots[i] + (p,)
        else:
            seen_bases[base] = len(slots)
            slots.append((p,))

    def primitive(p: str) -> bool:
        t = _target(props[p])
        return t is None or _is_primitive(t) or (name == "Reference" and p == "reference")
    flags = tuple(all(primitive(p) for p in slot) for slot in slots)
    return required, tuple(slots), flags


@cache
def element(name: str, depth: int = 0):
    """A strategy for a non-empty JSON object of definition `name` at nesting `depth`."""
    required, slots, flags = _slots(name)
    if depth >= MAX_DEPTH and any(flags):
        # Deep down, only primitives (required elements are always present).
        candidates = [i for i, f in enumerate(flags) if f]
    else:
        candidates = list(range(len(slots)))
    limit = min(len(candidates), MAX_OPTIONAL[min(depth, len(MAX_OPTIONAL) - 1)])
    minimum = 0 if required else 1          # FHIR JSON has no empty objects
    if not candidates:
        if not required:
            raise LookupError(f"{name} has no element to generate")
        picks = st.just([])
    else:
        picks = st.lists(st.sampled_from(candidates), min_size=minimum, max_size=limit, unique=True)

    @st.composite
    def build(draw) -> dict:
        picked = draw(picks)
        props = list(required)
        for i in picked:
            slot = slots[i]
            props.append(slot[0] if len(slot) == 1 else draw(st.sampled_from(slot)))
        props = draw(st.permutations(props))      # any key order: the server must keep it
        out = {"resourceType": name} if depth == 0 else {}
        for p in props:
            out[p] = draw(_property_strategy(name, p, depth))
        return out
    return build()


def resources(type_name: str):
    """A strategy for a valid resource of `type_name` (no id, no meta)."""
    if type_name not in spec.resource_types():
        raise ValueError(type_name)
    return element(type_name, 0)


def with_id(resource: dict, id_: str) -> dict:
    """The resource with `id` right after `resourceType` (the usual place)."""
    return {"resourceType": resource["resourceType"], "id": id_,
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id")}}


def client_meta():
    """A client-supplied meta: the server keeps tag/profile/security/source (and replaces
    versionId/lastUpdated, which this may also carry)."""
    return element("Meta", 1)


@st.composite
def documents(draw, type_name: str) -> dict:
    """A resource of `type_name`, sometimes with a client meta (placed at a random position)."""
    resource = draw(resources(type_name))
    if draw(st.integers(0, 3)) == 0:
        items = list(resource.items())
        at = draw(st.integers(1, len(items)))
        items.insert(at, ("meta", draw(client_meta())))
        resource = dict(items)
    return resource
