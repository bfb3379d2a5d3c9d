"""An independent oracle for R4 search: which of a set of resources a search must return.

For every clause, the parameter's official FHIRPath expression (searchparams.registry, the
R4 SearchParameter definitions) is evaluated over the resource with fhirpathpy and the R4
matching rules of search.html are applied to the typed values it selects. Nothing here
comes from the server's own search code (searchparams.parse/index/sqlgen, mappings): the
value syntax, the date intervals, the implied number ranges and the text folding are all
re-derived from the specification text, which each rule quotes (R4 = FHIR 4.0.1,
http://hl7.org/fhir/R4/search.html).

Where the specification is ambiguous the oracle says so (AMBIGUOUS in a comment) and, for
an input that depends on it, raises `Ambiguous` instead of answering: the test then does not
compare that search, so every comparison it makes is one the specification decides. Where a
rule has a literal reading, the oracle follows it. One rule R4 leaves to the server on
purpose: the tolerance of the `ap` prefix ("the recommended value for the approximation is 10%
of the stated value (or for a date, 10% of the gap between now and the date), but systems may
choose other values"). The oracle takes the recommended 10%, which this server documents as
its choice, and because "now" moves while a search runs it answers a date `ap` with a
narrowest and a widest acceptable set (`Approx`), between which the server's answer must lie.

Chains follow references to the stored resources and `_has` looks through them for the
resources that refer to a candidate (`Store`: every resource the searched tenant holds).

fhirpathpy notes (limitations of the library, not of the expressions):
- a union (`a | b`) loses the FHIR type of its items, so the oracle evaluates each branch of
  the top-level union on its own and concatenates the results (the union of the branches);
- `Resource.x` does not select anything on a concrete resource, so such a branch is
  evaluated as `<ResourceType>.x`;
- `resolve()` is not implemented: the oracle supplies one that turns a reference into a stub
  resource of the type its URL names (`Patient/1`, `http://x/fhir/Patient/1`), which is all
  that `resolve() is Patient` needs.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import jellyfish
from fhirpathpy import compile as fp_compile
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from fhirserver import spec
from searchparams.registry import params_for

R4 = models["r4"]
UCUM = "http://unitsofmeasure.org"

# The code system a primitive `code` element's required binding implies, for the elements
# the tests search with `system|code` (search.html#token: "code | (implicit) | ... the
# system is defined in the value set"). Keyed by (resource type, parameter code).
IMPLICIT_SYSTEMS: dict[tuple[str, str], str] = {
    ("Patient", "gender"): "http://hl7.org/fhir/administrative-gender",
    ("Patient", "address-use"): "http://hl7.org/fhir/address-use",
    ("Observation", "status"): "http://hl7.org/fhir/observation-status",
    ("Encounter", "status"): "http://hl7.org/fhir/encounter-status",
    ("Appointment", "status"): "http://hl7.org/fhir/appointmentstatus",
    ("Appointment", "part-status"): "http://hl7.org/fhir/participationstatus",
    ("MedicationRequest", "status"): "http://hl7.org/fhir/CodeSystem/medicationrequest-status",
    ("MedicationRequest", "intent"): "http://hl7.org/fhir/CodeSystem/medicationrequest-intent",
    ("MedicationRequest", "priority"): "http://hl7.org/fhir/request-priority",
    ("Claim", "status"): "http://hl7.org/fhir/fm-status",
    ("Claim", "use"): "http://hl7.org/fhir/claim-use",
    ("Procedure", "status"): "http://hl7.org/fhir/event-status",
    ("Immunization", "status"): "http://hl7.org/fhir/event-status",
    ("AllergyIntolerance", "type"): "http://hl7.org/fhir/allergy-intolerance-type",
    ("AllergyIntolerance", "category"): "http://hl7.org/fhir/allergy-intolerance-category",
    ("AllergyIntolerance", "criticality"): "http://hl7.org/fhir/allergy-intolerance-criticality",
    ("AllergyIntolerance", "severity"): "http://hl7.org/fhir/reaction-event-severity",
    ("DiagnosticReport", "status"): "http://hl7.org/fhir/diagnostic-report-status",
    ("DocumentReference", "status"): "http://hl7.org/fhir/document-reference-status",
    ("DocumentReference", "relation"): "http://hl7.org/fhir/document-relationship-type",
    # Attachment.contentType: required binding to MimeType, whose codes are BCP 13's.
    ("DocumentReference", "contenttype"): "urn:ietf:bcp:13",
    ("Goal", "lifecycle-status"): "http://hl7.org/fhir/goal-status",
    ("AuditEvent", "action"): "http://hl7.org/fhir/audit-event-action",
    ("AuditEvent", "outcome"): "http://hl7.org/fhir/audit-event-outcome",
}


class Ambiguous(Exception):
    """R4 does not decide whether this resource matches this search value."""


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
QUANTITY_TYPES = {"Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity", "MoneyQuantity"}


# --- evaluating the official expressions ----------------------------------------------------------

def branches(expression: str) -> list[str]:
    """The operands of the expression's top-level `|` operator (outside brackets and quotes)."""
    out, depth, start, quoted, i = [], 0, 0, False, 0
    while i < len(expression):
        ch = expression[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(expression[start:i].strip())
            start = i + 1
        i += 1
    out.append(expression[start:].strip())
    return [b for b in out if b]


def _head(branch: str) -> str:
    """The type name a branch starts from: 'Patient' in '(Patient.deceased as dateTime)'."""
    return re.match(r"[\s(]*([A-Za-z]+)", branch).group(1)


def _resolve(inputs: list) -> list:
    out = []
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else item
        if isinstance(ref, str):
            parts = ref.split("/_history/")[0].split("/")
            if len(parts) >= 2 and parts[-2] in spec.resource_types():
                out.append(ResourceNode.create_node({"resourceType": parts[-2], "id": parts[-1]}))
    return out


_OPTIONS = {"userInvocationTable": {"resolve": {"fn": _resolve, "arity": {0: []}}}, "returnRawData": True}


@lru_cache(maxsize=None)
def _compiled(resource_type: str, expression: str) -> tuple:
    """Compiled branches of `expression` that can select something on `resource_type`."""
    out = []
    for branch in branches(expression):
        head = _head(branch)
        if head in ("Resource", "DomainResource"):
            branch = re.sub(rf"\b{head}\.", f"{resource_type}.", branch, count=1)
        elif head in spec.resource_types() and head != resource_type:
            continue   # another type's branch: selects nothing here
        out.append((fp_compile(branch, R4, _OPTIONS), fp_compile(_of_type(branch), R4, _OPTIONS)))
    return tuple(out)


def _of_type(branch: str) -> str:
    """`(path as Type)` written as `path.ofType(Type)`.

    FHIRPath's `as` raises an error on a collection of several items, so R4 expressions such as
    `(Observation.component.value as Quantity)` fail on a resource with two components. Their
    evident intent (and the R5 form of the same parameters) is a filter by type, which `ofType`
    is; the oracle uses it only where the literal expression raises that error (AMBIGUOUS)."""
    return re.sub(r"\(([A-Za-z.]+) as ([A-Za-z]+)\)", r"\1.ofType(\2)", branch)


@dataclass(frozen=True)
class Node:
    type: str          # FHIR type name: CodeableConcept, code, dateTime, Period, boolean...
    value: object      # the JSON value (dicts for complex types)


def _plain(value):
    if isinstance(value, ResourceNode):
        return _plain(value.data)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _typed(item) -> Node:
    if isinstance(item, ResourceNode):
        if item.path is None:
            raise AssertionError(f"fhirpathpy returned an untyped node: {item.data!r}")
        return Node(item.path.split(".")[-1] if item.path.startswith("System.") else item.path, _plain(item.data))
    if isinstance(item, bool):
        return Node("boolean", item)
    if isinstance(item, str):
        return Node("string", item)
    if isinstance(item, (int, Decimal)):
        return Node("decimal", Decimal(item))
    raise AssertionError(f"unexpected FHIRPath result {item!r}")


def nodes(resource: dict, code: str) -> list[Node]:
    """What the official expression of `code` selects on `resource`, each with its FHIR type."""
    d = params_for(resource["resourceType"])[code]
    out = []
    for literal, filtered in _compiled(resource["resourceType"], d.expression):
        try:
            items = literal(resource)
        except ValueError as exc:
            if "singleton" not in str(exc):
                raise
            items = filtered(resource)
        out += [_typed(item) for item in items]
    return out


# --- search values: R4's own syntax, re-read here --------------------------------------------------

def split_unescaped(text: str, sep: str) -> list[str]:
    """Split at `sep` not preceded by a backslash escape; unescape the pieces (search.html#escaping:
    "\\" before "$", ",", "|" and "\\" itself)."""
    pieces, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
            continue
        if ch == sep:
            pieces.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    pieces.append(cur)
    return pieces


def split_values(raw: str) -> list[str]:
    """A parameter's comma-separated values, each still escaped (a backslash escapes the next
    character, a backslash included)."""
    out, cur, i = [], "", 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            cur += raw[i:i + 2]
            i += 2
            continue
        if raw[i] == ",":
            out.append(cur)
            cur = ""
        else:
            cur += raw[i]
        i += 1
    return out + [cur]


def escape(text: str) -> str:
    return re.sub(r"([\\,$|])", r"\\\1", text)


# --- strings ----------------------------------------------------------------------------------------

# search.html#string: "string parts": the parts of the complex types a string parameter searches.
STRING_PARTS = {"HumanName": ("family", "given", "prefix", "suffix", "text"),
                "Address": ("line", "city", "district", "state", "postalCode", "country", "text")}


def fold(text: str) -> str:
    """search.html#string: "insensitive to casing and included combining characters, like accents
    or other diacritical marks": canonical decomposition, combining marks dropped, Unicode case
    folding. (Punctuation and repeated whitespace "SHOULD also be ignored": a SHOULD the tests
    do not exercise.)"""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Mc")).casefold()


def string_parts(node: Node) -> list[str]:
    if isinstance(node.value, str):
        return [node.value]
    out = []
    if isinstance(node.value, dict):
        for part in STRING_PARTS.get(node.type, ()):
            got = node.value.get(part)
            out += got if isinstance(got, list) else [got] if isinstance(got, str) else []
    return out


# `phonetic` ("some kind of phonetic matching algorithm", the server's choice): the server's
# CapabilityStatement names Metaphone over each family and given name, whole and word by word,
# the search value keyed whole. Written here from that description, on the library's encoder.
def _letter_words(text: str) -> list[str]:
    return "".join(c if "a" <= c <= "z" else " " for c in fold(text)).split()


def phonetic_match(node: Node, value: str) -> bool:
    letters = "".join(_letter_words(value))
    want = jellyfish.metaphone(letters) if letters else ""
    if not want or node.type != "HumanName" or not isinstance(node.value, dict):
        return False
    for part in ("family", "given"):
        got = node.value.get(part)
        for text in got if isinstance(got, list) else [got] if isinstance(got, str) else []:
            words = _letter_words(text)
            if want in {jellyfish.metaphone(w) for w in words} | {jellyfish.metaphone("".join(words))}:
                return True
    return False


def string_match(node: Node, value: str, modifier: str | None) -> bool:
    for part in string_parts(node):
        if modifier == "exact":   # "match the entire supplied parameter, including casing and combining characters"
            if part == value:
                return True
        elif modifier == "contains":   # "include the supplied parameter value anywhere within the field"
            if fold(value) in fold(part):
                return True
        elif fold(part).startswith(fold(value)):   # default: "equals or starts with", after folding
            return True
    return False


# --- tokens -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Coded:
    system: str | None       # None: no system
    code: str | None
    implicit: bool = False   # a primitive code whose system is its binding's


def coded(node: Node, implicit_system: str | None) -> list[Coded]:
    """search.html#token, table of data types: which (system, code) pairs a value offers."""
    v, t = node.value, node.type
    if t == "Coding":
        return [Coded(v.get("system"), v.get("code"))]
    if t == "CodeableConcept":   # "Matches against any coding in the CodeableConcept"
        return [Coded(c.get("system"), c.get("code")) for c in v.get("coding", ())]
    if t == "Identifier":        # Identifier.system, Identifier.value
        return [Coded(v.get("system"), v.get("value"))]
    if t == "ContactPoint":      # URI column empty, code ContactPoint.value
        return [Coded(None, v.get("value"))]
    if t == "boolean":           # "The implicit system for boolean values is ... never actually used"
        return [Coded(None, "true" if v else "false")]
    if t == "code":              # "the system is defined in the value set"
        return [Coded(implicit_system, v, implicit=True)]
    if t in ("id", "string", "String", "uri", "canonical", "oid", "uuid", "url"):
        return [Coded(None, str(v))]
    return []


def token_texts(node: Node) -> list[str]:
    """:text: "searches text associated with the code/value - either CodeableConcept.text,
    Coding.display, or Identifier.type.text"."""
    v, t = node.value, node.type
    if t == "CodeableConcept":
        return ([v["text"]] if "text" in v else []) + [c["display"] for c in v.get("coding", ()) if "display" in c]
    if t == "Coding":
        return [v["display"]] if "display" in v else []
    if t == "Identifier":
        return [v["type"]["text"]] if "text" in v.get("type", {}) else []
    return []


def token_match(c: Coded, raw: str) -> bool:
    """One token search value against one (system, code) pair:
    [code] "matches a Coding.code or Identifier.value irrespective of the value of the system";
    [system]|[code] "... and the value of [system] matches the system property";
    |[code] "... and the Coding/Identifier has no system property";
    [system]| "any element where the value of [system] matches the system property"."""
    parts = split_unescaped(raw, "|")
    if len(parts) == 1:
        return c.code == parts[0]
    system, code = parts[0], "|".join(parts[1:])
    if c.implicit and c.system is None:
        # A code element whose binding is not required (Attachment.language: preferred) implies no
        # system, and R4 does not say what a search with a system means for it.
        raise Ambiguous("system| on a code element whose binding implies no system")
    if system == "":
        if c.implicit:
            raise Ambiguous("|code on a code element, whose system is implied by its binding")
        return c.system is None and c.code == code
    if code == "":
        return c.system == system
    return c.system == system and c.code == code


def of_type_match(node: Node, raw: str) -> bool:
    """:of-type: [type system]|[type code]|[identifier value], on Identifier values."""
    ts, tc, value = split_unescaped(raw, "|")
    if node.type != "Identifier":
        return False
    v = node.value
    return v.get("value") == value and any(c.get("system") == ts and c.get("code") == tc
                                           for c in v.get("type", {}).get("coding", ()))


# --- terminology (token :above :below :in :not-in) -------------------------------------------------
# R4's own CodeSystems and ValueSets as the server packages them from the 4.0.1 package (codes, and
# each concept's children from nesting and the `child` property; each ValueSet's compose). The
# oracle reads them its own way: it tests membership of one code against a compose, where the
# server expands value sets into code lists.

@lru_cache(maxsize=None)
def terminology() -> dict:
    return json.loads(gzip.decompress((Path(spec.__file__).parent / "terminology.json.gz").read_bytes()))


def is_a(system: str, code: str, ancestor: str) -> bool:
    """`code` is `ancestor` or below it in `system`'s hierarchy (search.html#token: ":below ... the
    coding in the resource has an is-a relationship with the search concept, and this includes the
    coding itself")."""
    children = terminology()["codeSystems"][system]["children"]
    todo, seen = [ancestor], set()
    while todo:
        c = todo.pop()
        if c == code:
            return True
        if c not in seen:
            seen.add(c)
            todo += children.get(c, ())
    return False


def _filter_holds(system: str, code: str, f: dict) -> bool:
    op, value = f["op"], f.get("value", "")
    assert f["property"] in ("concept", "code"), f
    return {"is-a": lambda: is_a(system, code, value),
            "descendent-of": lambda: code != value and is_a(system, code, value),
            "is-not-a": lambda: not is_a(system, code, value),
            "generalizes": lambda: is_a(system, value, code),
            "in": lambda: code in value.split(","),
            "not-in": lambda: code not in value.split(","),
            "regex": lambda: re.fullmatch(value, code) is not None}[op]()


def _in_part(part: dict, system: str | None, code: str | None) -> bool:
    """ValueSet.compose.include/exclude: the system's codes (listed, filtered or all) AND every
    value set named."""
    if "system" not in part and "valueSet" not in part:
        return False
    if "system" in part:
        if system != part["system"]:
            return False
        if "concept" in part:
            if code not in part["concept"]:
                return False
        elif code not in terminology()["codeSystems"][system]["codes"] or \
                not all(_filter_holds(system, code, f) for f in part.get("filter", ())):
            return False
    return all(in_value_set(vs, system, code) for vs in part.get("valueSet", ()))


def in_value_set(url: str, system: str | None, code: str | None) -> bool:
    compose = terminology()["valueSets"][url.split("|")[0]]
    return any(_in_part(p, system, code) for p in compose.get("include", ())) and \
        not any(_in_part(p, system, code) for p in compose.get("exclude", ()))


def concept_match(c: Coded, raw: str, mod: str) -> bool:
    """:below/:above take [system]|[code]; :in a value set's canonical URL."""
    if mod == "in":
        return c.code is not None and in_value_set(unescape(raw), c.system, c.code)
    system, code = (unescape(x) for x in split_unescaped(raw, "|"))
    if c.system != system or c.code is None:
        return False
    return is_a(system, c.code, code) if mod == "below" else is_a(system, code, c.code)


# --- dates ------------------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?")
NEG_INF = datetime.min.replace(tzinfo=timezone.utc)
POS_INF = datetime.max.replace(tzinfo=timezone.utc)


def date_interval(text: str) -> tuple[datetime, datetime]:
    """search.html#date: a date value "represents an implicit range": [start, end) at its own
    precision ("2013-01" is the whole of January). Values without a time zone are taken in the
    server's zone, which this server documents as UTC (AMBIGUOUS in R4: "Where both search
    parameters and resource element date times do not have time zones, the servers local time
    zone should be assumed")."""
    m = _DATE.fullmatch(text)
    if not m:
        raise ValueError(f"not a date: {text}")
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    if hh is None:
        start = datetime(int(y), int(mo or 1), int(d or 1), tzinfo=timezone.utc)
        if d:
            return start, start + timedelta(days=1)
        if mo:
            nxt = datetime(int(y) + (int(mo) == 12), int(mo) % 12 + 1, 1, tzinfo=timezone.utc)
            return start, nxt
        return start, datetime(int(y) + 1, 1, 1, tzinfo=timezone.utc)
    zone = timezone.utc
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    micro = int(((frac or ".")[1:] + "000000")[:6])
    start = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0), micro, tzinfo=zone)
    if ss is None:
        step = timedelta(minutes=1)
    elif frac:
        step = timedelta(microseconds=10 ** (6 - min(len(frac) - 1, 6)))
    else:
        step = timedelta(seconds=1)
    return start.astimezone(timezone.utc), (start + step).astimezone(timezone.utc)


def node_interval(node: Node) -> tuple[datetime, datetime] | None:
    v, t = node.value, node.type
    if t in ("date", "dateTime", "instant") and isinstance(v, str):
        return date_interval(v)
    if t == "Period":
        # Period.end: "If the end of the period is missing, it means that the period is ongoing";
        # a missing start is likewise open (datatypes.html#Period).
        lo = date_interval(v["start"])[0] if "start" in v else NEG_INF
        hi = date_interval(v["end"])[1] if "end" in v else POS_INF
        return lo, hi
    if t == "Timing":
        # search.html#date: "Timing: the specified scheduling details are ignored and only the outer
        # limits matter" - the hull of its event times.
        spans = [date_interval(e) for e in v.get("event", ())]
        bounds = v.get("repeat", {}).get("boundsPeriod")
        if bounds:
            spans.append(node_interval(Node("Period", bounds)))
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)
    return None


def range_prefix(prefix: str, s: tuple, t: tuple) -> bool:
    """search.html#prefix, on the range of the search value `s` and of the target value `t`
    (both [lo, hi)):
    eq "the range of the search value fully contains the range of the target value";
    ne "the range of the search value does not fully contain the range of the target value";
    gt "the range above the search value intersects (i.e. overlaps) with the range of the target value";
    lt "the range below the search value intersects (i.e. overlaps) with the range of the target value";
    ge gt or eq; le lt or eq (their rows say "..., or the range of the search value fully contains...");
    sa "the range of the search value does not overlap with the range of the target value, and the
        range above the search value contains the range of the target value";
    eb the same with "below"."""
    (s0, s1), (t0, t1) = s, t
    eq = s0 <= t0 and t1 <= s1
    gt = t1 > s1
    lt = t0 < s0
    return {"eq": eq, "ne": not eq, "gt": gt, "lt": lt, "ge": gt or eq, "le": lt or eq,
            "sa": t0 >= s1, "eb": t1 <= s0}[prefix]


def split_prefix(raw: str) -> tuple[str, str]:
    if raw[:2] in PREFIXES and len(raw) > 2 and not raw[2:3].isalpha():
        return raw[:2], raw[2:]
    return "eq", raw


# search.html#prefix, ap: "the recommended value for the approximation is 10% of the stated value (or
# for a date, 10% of the gap between now and the date), but systems may choose other values where
# appropriate". This server documents the recommended 10% as its choice (for a date: the search range
# widened by 10% of the distance between now and the start of that range), so the oracle takes it.
AP_TOLERANCE = Decimal("0.1")
# The date tolerance is checked to within 1% of itself and 1 ms (9.9% to 10.1% of the gap, less or
# more a millisecond): room for a server that rounds its bounds (to a microsecond, to the millisecond
# meta.lastUpdated is written with, or to a whole day on a date element: the dates searched here lie
# years back, where 1% of the gap is more than a day), never enough to pass a tolerance of 9 or 11%.
AP_SLACK = 0.01
AP_SLACK_ABS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Approx:
    """The clock for `ap` on dates. The server reads "now" at some moment between `earliest` (before
    the request was sent) and `latest` (after the last page came back); the oracle answers with the
    narrowest tolerance that moment allows (`wide` False: every resource then matched must be in the
    server's answer) or the widest (`wide` True: nothing else may be)."""
    earliest: datetime
    latest: datetime
    wide: bool


def ap_gap(start: datetime, approx: Approx) -> timedelta:
    """How far `ap` widens a search range that starts at `start`: 10% of the gap between now and it."""
    far = max(abs(approx.earliest - start), abs(approx.latest - start))
    if approx.wide:
        return far * float(AP_TOLERANCE) * (1 + AP_SLACK) + AP_SLACK_ABS
    near = min(abs(approx.earliest - start), abs(approx.latest - start))
    if approx.earliest <= start <= approx.latest:
        near = timedelta(0)
    return max(timedelta(0), near * float(AP_TOLERANCE) * (1 - AP_SLACK) - AP_SLACK_ABS)


def _shift(when: datetime, by: timedelta) -> datetime:
    try:
        return when + by
    except OverflowError:
        return POS_INF if by > timedelta(0) else NEG_INF


def date_match(node: Node, raw: str, approx: Approx | None = None) -> bool:
    prefix, text = split_prefix(raw)
    t = node_interval(node)
    if t is None:
        return False
    s = date_interval(text)
    if prefix == "ap":
        # ap: "the range of the search value overlaps with the range of the target value", the search
        # range widened by the tolerance.
        if approx is None:
            raise AssertionError("ap on a date needs the time of the search (Approx)")
        gap = ap_gap(s[0], approx)
        return t[0] < _shift(s[1], gap) and t[1] > _shift(s[0], -gap)
    return range_prefix(prefix, s, t)


# --- numbers and quantities ---------------------------------------------------------------------

def implied_range(text: str) -> tuple[Decimal, Decimal]:
    """search.html#number: "the precision of the number is significant": 100 searches [99.5, 100.5),
    100.00 [99.995, 100.005) - half a unit of the last written digit either side. (AMBIGUOUS for
    exponents: the table says 1e2 is "to 1 significant figures precision, so ... the range 95 to
    105", which contradicts itself; the tests never search with an exponent.)"""
    if "e" in text.lower():
        raise Ambiguous("the implied range of a number in exponent notation")
    value = Decimal(text)
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)
    return value - half, value + half


def number_prefix(prefix: str, text: str, x: Decimal) -> bool:
    """A target number is a point. eq/ne use the implied range ("Values that equal 100, to 3
    significant figures precision"; "ne100 ... (actually, in the range 99.5 to 100.5)"); the
    comparisons are exact, per the number table: "lt100 Values that are less than exactly 100",
    le/gt/ge likewise. sa/eb have no number example: their prefix-table wording on ranges is
    applied (the target lies wholly above / below the search value's implied range).

    ap: "approximately the same to the provided value", "typically, within 10% of the value"
    (search.html#quantity, ap5.4). Its range reading is "the range of the search value overlaps with
    the range of the target value", and the implied precision is ignored only for "lgt, lt, ge, le,
    sa & eb" (search.html#number), not for ap: so a value in the search value's implied range
    matches too (ap0 matches 0.3, as eq0 does; ap100 matches 91 by the tolerance). Exactly on the
    10% edge, or on an edge of the implied range, R4 does not say (AMBIGUOUS)."""
    lo, hi = implied_range(text)
    v = Decimal(text)
    if prefix == "ap":
        off, band = abs(x - v), abs(v) * AP_TOLERANCE
        if off < band or lo < x < hi:
            return True
        if off == band or x in (lo, hi):
            raise Ambiguous("ap: a value exactly on the edge of the tolerance or of the implied range")
        return False
    if prefix in ("eq", "ne", "sa", "eb") and x in (lo, hi):
        raise Ambiguous("a value on the edge of the implied range ('the range 99.5 to 100.5': open or closed?)")
    return {"eq": lo <= x < hi, "ne": not (lo <= x < hi), "gt": x > v, "lt": x < v, "ge": x >= v,
            "le": x <= v, "sa": x >= hi, "eb": x < lo}[prefix]


def quantity_match(node: Node, raw: str) -> bool:
    """search.html#quantity: [prefix][number]|[system]|[code] "matches a quantity with the given
    unit"; [number]||[code] matches "either the code (code) or the stated human unit (unit)";
    [number] alone matches "irrespective of the unit"."""
    parts = split_unescaped(raw, "|")
    prefix, number = split_prefix(parts[0])
    v, t = node.value, node.type
    if t == "Range":
        # Condition onset-age and abatement-age select Ranges too; R4's quantity rules speak of a
        # Quantity only, and how an implied range meets a Range's inclusive ends it does not say.
        raise Ambiguous("a quantity search on a Range")
    if t not in QUANTITY_TYPES or not isinstance(v, dict) or v.get("value") is None:
        return False
    if not number_prefix(prefix, number, Decimal(v["value"])):
        return False
    if len(parts) == 1:
        return True
    system, code = parts[1], parts[2]
    if not code:
        raise Ambiguous("a quantity system without a unit code")
    if system:
        return v.get("system") == system and v.get("code") == code
    return code in (v.get("code"), v.get("unit"))


# --- references ----------------------------------------------------------------------------------

def local_part(ref: str, base: str) -> str | None:
    """'Type/id' for a reference to this server (relative, or absolute under `base`: references.html
    "a reference ... may be absolute or relative ... relative to the server base"); None otherwise."""
    if ref.startswith(base + "/"):
        ref = ref[len(base) + 1:]
    parts = ref.split("/")
    if len(parts) == 2 and ":" not in parts[0] and parts[0] in spec.resource_types():
        return ref
    return None


def reference_match(node: Node, raw: str, type_modifier: str | None, base: str) -> bool:
    """search.html#reference: [id] "the logical [id] of a resource using a local reference";
    [type]/[id] "the logical [id] of a resource of a specified type using a local reference";
    [url] "an absolute URL - a reference to a resource by its absolute location"; :[type] restricts
    an [id] to that type."""
    v = node.value
    ref = v.get("reference") if isinstance(v, dict) else v if isinstance(v, str) else None
    if not isinstance(ref, str):
        return False
    here = local_part(ref, base)
    value = raw
    if type_modifier:
        return here == f"{type_modifier}/{value}"
    if "://" in value:
        wanted = local_part(value, base)
        return here == wanted if wanted else ref == value
    if "/" in value:
        return here == value
    return here is not None and here.split("/")[1] == value


# --- uris ----------------------------------------------------------------------------------------

def uri_match(node: Node, value: str, modifier: str | None) -> bool:
    """search.html#uri: "the search parameter value is a URI ... matches exactly"; :below "the
    search value is the start of the URI" (e.g. url:below=http://acme.org/fhir/ matches
    http://acme.org/fhir/ValueSet/123); :above "the URI is the start of the search value". Taken
    on whole path segments (AMBIGUOUS on characters: the tests never need that difference)."""
    uri = node.value if isinstance(node.value, str) else None
    if uri is None:
        return False
    if modifier == "below":
        return uri == value or uri.startswith(value.rstrip("/") + "/")
    if modifier == "above":
        return uri == value or value.startswith(uri.rstrip("/") + "/")
    return uri == value


# --- a whole search ------------------------------------------------------------------------------

def unescape(raw: str) -> str:
    """search.html#escaping: a backslash makes the next character literal."""
    return re.sub(r"\\(.)", r"\1", raw)


@dataclass(frozen=True)
class Clause:
    code: str
    modifier: str | None
    values: tuple[str, ...]     # each in query syntax (escaped); the clause ORs them
    chain: "Clause | None" = None   # a chained clause on the target; `modifier` is then its type

    def item(self) -> tuple[str, str]:
        if self.chain is not None:
            key, value = self.chain.item()
            return f"{self.code}:{self.modifier}.{key}", value
        return self.code + (f":{self.modifier}" if self.modifier else ""), ",".join(self.values)

    def __str__(self) -> str:
        return "=".join(self.item())


@dataclass(frozen=True)
class Has:
    """`_has:[source]:[ref]:[inner]`: a reverse chain (search.html#has); `inner` may be a _has again."""
    source: str                 # the type of the resources that refer to the candidate
    ref: str                    # their reference parameter
    inner: "Clause | Has"

    def item(self) -> tuple[str, str]:
        key, value = self.inner.item()
        return f"_has:{self.source}:{self.ref}:{key}", value

    def __str__(self) -> str:
        return "=".join(self.item())


class Store:
    """Every resource the searched tenant holds, by "Type/id": chains resolve references through it,
    _has looks in it for the resources that refer to a candidate. What a resource's reference
    parameter points at is worked out once per resource (`links`)."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict] = {}
        self._by_type: dict[str, list[dict]] = {}
        self._links: dict[tuple[str, str, str], frozenset[str]] = {}

    def add(self, resource: dict) -> None:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in self._by_key:
            self._by_type.setdefault(resource["resourceType"], []).append(resource)
        self._by_key[key] = resource

    def get(self, key: str) -> dict | None:
        return self._by_key.get(key)

    def of_type(self, type_name: str) -> list[dict]:
        return self._by_type.get(type_name, [])

    def links(self, resource: dict, code: str, base: str) -> frozenset[str]:
        """The local resources ("Type/id") that `code`'s expression selects references to."""
        cache_key = (f"{resource['resourceType']}/{resource['id']}", code, base)
        if cache_key not in self._links:
            out = set()
            for n in nodes(resource, code):
                ref = n.value.get("reference") if isinstance(n.value, dict) else None
                here = local_part(ref, base) if isinstance(ref, str) else None
                if here is not None:
                    out.add(here)
            self._links[cache_key] = frozenset(out)
        return self._links[cache_key]


@dataclass(frozen=True)
class Context:
    """What a search is evaluated against besides the candidates: the server's base URL (a reference
    to `[base]/Type/id` is local), the tenant's resources (for chains and _has; none: nothing
    resolves) and the clock of `ap` on dates."""
    base: str
    stored: Store | None = None
    approx: Approx | None = None

    def resolve(self, key: str) -> dict | None:
        return self.stored.get(key) if self.stored is not None else None


@lru_cache(maxsize=None)
def _definition(url: str):
    """A search parameter's definition by its canonical URL (composite components name them)."""
    for type_name in spec.resource_types():
        for d in params_for(type_name).values():
            if d.url == url:
                return d
    raise KeyError(url)


@lru_cache(maxsize=None)
def _relative(expression: str) -> tuple:
    """Each `|` branch on its own: fhirpathpy's union drops the items' types. R4's composite
    components write `value.as(DateTime)`, FHIRPath's System type, which no FHIR element has;
    the element type `dateTime` is meant (Observation-value-date, the same value alone, says
    `as dateTime`), so the oracle reads it so."""
    return tuple(fp_compile(branch.replace("as(DateTime)", "as(dateTime)"), R4, _OPTIONS)
                 for branch in branches(expression))


def composite_match(resource: dict, code: str, raw: str, ctx: Context) -> bool:
    """search.html#composite: the parts, separated by `$`, must all match within one element the
    composite's expression selects (the resource, or one Observation.component): each part by its
    component's own parameter type, on what the component's relative expression selects there."""
    d = params_for(resource["resourceType"])[code]
    pieces = re.split(r"(?<!\\)\$", raw)
    if len(pieces) != len(d.components):
        return False
    for base, _ in _compiled(resource["resourceType"], d.expression):
        for element in base(resource):
            if all(_component_match(element, c, piece, ctx) for c, piece in zip(d.components, pieces)):
                return True
    return False


def _component_match(element, component: dict, piece: str, ctx: Context) -> bool:
    kind = _definition(component["definition"]).type
    found = [_typed(item) for branch in _relative(component["expression"]) for item in branch(element)]
    if kind == "token":
        return any(token_match(c, piece) for n in found for c in coded(n, None))
    if kind == "quantity":
        return any(quantity_match(n, piece) for n in found)
    if kind == "date":
        return any(date_match(n, piece, ctx.approx) for n in found)
    if kind == "string":
        return any(string_match(n, unescape(piece), None) for n in found)
    raise AssertionError(f"{kind} components are not exercised")


def chain_matches(resource: dict, clause: Clause, ctx: Context) -> bool:
    """search.html#chaining: `subject:Patient.name=x` matches resources whose `subject` refers to a
    Patient whose `name` matches x; a chain may go on through further references."""
    for n in nodes(resource, clause.code):
        ref = n.value.get("reference") if isinstance(n.value, dict) else None
        here = local_part(ref, ctx.base) if isinstance(ref, str) else None
        if here is not None and here.split("/")[0] == clause.modifier:
            target = ctx.resolve(here)
            if target is not None and clause_matches(target, clause.chain, ctx):
                return True
    return False


def has_matches(resource: dict, has: Has, ctx: Context) -> bool:
    """search.html#has: "selecting resources based on the properties of resources that refer to
    them": `Patient?_has:Observation:patient:code=1234-5` returns "Patient resources, where the patient
    resource is referred to by at least one Observation where the observation has a code of 1234, and
    where the Observation refers to the patient resource in the patient search parameter"; "The _has
    parameter can be chained" (`_has:Observation:patient:_has:AuditEvent:entity:user=...`); "each _has
    parameter is processed independently of other _has parameters". Refers to: the reference
    parameter's expression, evaluated on the referring resource, selects a reference to the candidate
    (relative, or absolute on this server) - as for chains, a reference by identifier alone or to
    another server refers to no stored resource."""
    if ctx.stored is None:
        return False
    me = f"{resource['resourceType']}/{resource['id']}"
    return any(me in ctx.stored.links(source, has.ref, ctx.base) and clause_matches(source, has.inner, ctx)
               for source in ctx.stored.of_type(has.source))


def searchable(node: Node, param_type: str) -> bool:
    """Whether a date or quantity parameter's rules apply to the node's type (search.html#date: date,
    dateTime, instant, Period, Timing; #quantity: the Quantity types)."""
    if param_type == "date":
        return node.type in ("date", "dateTime", "instant", "Period", "Timing")
    if param_type == "quantity":
        return node.type in QUANTITY_TYPES
    return True


def clause_matches(resource: dict, clause: Clause | Has, ctx: Context) -> bool:
    if isinstance(clause, Has):
        return has_matches(resource, clause, ctx)
    if clause.chain is not None:
        return chain_matches(resource, clause, ctx)
    base = ctx.base
    d = params_for(resource["resourceType"])[clause.code]
    found = nodes(resource, clause.code)
    mod = clause.modifier
    if mod == "missing":
        # search.html#modifiers: ":missing=true ... resources that do not have a value for the
        # element"; =false those that do.
        (flag,) = clause.values
        if d.type == "reference" and any(isinstance(n.value, dict) and "reference" not in n.value for n in found):
            # A Reference with only an identifier (or display): the element is there, but it has
            # no value that [id], [type]/[id] or [url] could match. Whether that is "a value for
            # the parameter" R4 does not say.
            raise Ambiguous(":missing on a reference element that has no Reference.reference")
        if any(not searchable(n, d.type) for n in found):
            # Immunization.occurrence (date) selects an occurrenceString, Procedure.performed an Age,
            # Condition onset-age a Range: there is an element, but no value of the parameter's type.
            raise Ambiguous(":missing on an element whose value the parameter's type does not search")
        return (not found) == (flag == "true")
    implicit = IMPLICIT_SYSTEMS.get((resource["resourceType"], clause.code))

    def one(raw: str) -> bool:
        if clause.code == "phonetic":
            return any(phonetic_match(n, unescape(raw)) for n in found)
        if d.type == "string":
            return any(string_match(n, unescape(raw), mod) for n in found)
        if d.type == "token":
            if mod == "text":   # "processed as a string": starts with, folded
                text = fold(unescape(raw))
                return any(fold(t).startswith(text) for n in found for t in token_texts(n))
            if mod == "of-type":
                return any(of_type_match(n, raw) for n in found)
            if mod in ("below", "above", "in"):
                return any(concept_match(c, raw, mod) for n in found for c in coded(n, implicit))
            return any(token_match(c, raw) for n in found for c in coded(n, implicit))
        if d.type == "date":
            return any(date_match(n, raw, ctx.approx) for n in found)
        if d.type == "number":
            prefix, number = split_prefix(raw)
            return any(n.type in ("decimal", "integer", "positiveInt", "unsignedInt")
                       and number_prefix(prefix, number, Decimal(n.value)) for n in found)
        if d.type == "quantity":
            return any(quantity_match(n, raw) for n in found)
        if d.type == "reference":
            if mod == "identifier":   # "the search applies to Reference.identifier" (token rules)
                return any(isinstance(n.value, dict) and isinstance(n.value.get("identifier"), dict)
                           and token_match(coded(Node("Identifier", n.value["identifier"]), None)[0], raw)
                           for n in found)
            type_mod = mod if mod and mod[0].isupper() else None
            return any(reference_match(n, unescape(raw), type_mod, base) for n in found)
        if d.type == "uri":
            return any(uri_match(n, unescape(raw), mod) for n in found)
        if d.type == "composite":
            return composite_match(resource, clause.code, raw, ctx)
        raise AssertionError(f"{d.type} parameters are not exercised")

    if mod == "not-in":
        # search.html#modifiers: "tests whether the coding is not in the specified value set". With no
        # coding, or codings on both sides, R4 does not say (the server answers as :not does: no coding
        # of the resource is in the set).
        (raw,) = clause.values
        inside = [concept_match(c, raw, "in") for n in found for c in coded(n, implicit)]
        if not inside or len(set(inside)) > 1:
            raise Ambiguous(":not-in on a resource with no coding, or codings in and out of the value set")
        return not inside[0]
    if mod == "not":
        # search.html#modifiers, token :not: "reverse the code matching described above. Note that
        # this includes resources that have no value for the parameter". (AMBIGUOUS with several
        # OR-ed values - not any of them, or not all of them? - so only single values are generated.)
        if len(clause.values) != 1:
            raise Ambiguous(":not with several values")
        return not one(clause.values[0])
    return any(one(v) for v in clause.values)


def expected_ids(resources: list[dict], clauses: list[Clause | Has], ctx: Context) -> set[str]:
    """Ids of the resources that match every clause (search.html: "each parameter is AND-ed";
    comma-separated values within one parameter are OR-ed)."""
    return {r["id"] for r in resources if all(clause_matches(r, c, ctx) for c in clauses)}


def expected_range(resources: list[dict], clauses: list[Clause | Has], ctx: Context,
                   earliest: datetime, latest: datetime) -> tuple[set[str], set[str]]:
    """(narrowest, widest) acceptable answer of a search the server evaluated between `earliest` and
    `latest`: they differ only where `ap` on a date meets a bound that moves with the clock. Every
    match is monotone in the ap tolerance (no :not applies to a date or a quantity), so the server's
    answer at any moment lies between them."""
    narrow = expected_ids(resources, clauses, Context(ctx.base, ctx.stored, Approx(earliest, latest, False)))
    wide = expected_ids(resources, clauses, Context(ctx.base, ctx.stored, Approx(earliest, latest, True)))
    return narrow, wide
