"""Hypothesis strategies for search values, one per kind of parameter (tests/property/oracle_params.py):
strings (whole, a prefix or a piece, in another case or without accents), tokens (code,
system|code, system|, |code), dates with prefixes, quantities with units, references in every
form R4 allows, uris for :below/:above, composites, and concepts and value sets for
:below/:above/:in/:not-in. Half of them are drawn from what the stored resources hold, so that
searches hit; the values are escaped as search.html#escaping says.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from tests.property.oracle import coded, escape, fold, in_value_set, is_a, nodes, string_parts, terminology
from tests.property.oracle_audit import AUDIT_TYPE, RESTFUL, near_date
from tests.property.oracle_params import COMPOSITES, Dt, Qty, Ref, Tok, Uri
from tests.property.oracle_pools import (
    ACT_CODE,
    CATEGORY_CS,
    CC_TEXTS,
    CODES,
    CONDITION_CLINICAL,
    CONFIDENTIALITY,
    DATE_PREFIXES,
    DATE_QUERIES,
    GOAL_ACHIEVEMENT,
    ID_SYSTEMS,
    ID_VALUES,
    LOINC,
    NUMBER_PREFIXES,
    QTY_QUERIES,
    QTY_UNIT_QUERIES,
)
from tests.property.oracle_world import OTHER, World


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
    if n.type in ("date", "dateTime", "instant"):   # not a string a date parameter selects (occurrenceString)
        return [n.value]
    if n.type == "Period":
        return [n.value[k] for k in ("start", "end") if k in n.value]
    if n.type == "Timing":
        return list(n.value.get("event", ()))
    return []


@st.composite
def date_query(draw, code: str, resources: list[dict], found: list, kind: Dt | None = None) -> str:
    prefix = draw(st.sampled_from(DATE_PREFIXES))
    have = [t for n in found for t in _date_texts(n)]
    if kind is not None and kind.near:
        text = draw(near_date(draw(st.sampled_from(have))) if have and draw(st.booleans()) else
                    st.sampled_from(kind.queries or DATE_QUERIES))
    elif code == "_lastUpdated":
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
    [(ACT_CODE, c) for c in ("_ActEncounterCode", "IMP", "ACUTE", "AMB")] + [(CATEGORY_CS, "vital-signs")] + \
    [(CONDITION_CLINICAL, c) for c in ("active", "inactive", "resolved")] + [(GOAL_ACHIEVEMENT, "achieved")] + \
    [(RESTFUL, c) for c in ("search", "search-type", "history", "read")] + [(AUDIT_TYPE, "rest")]
VALUE_SETS = ["http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification",
              "http://hl7.org/fhir/ValueSet/security-labels",
              "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
              "http://hl7.org/fhir/ValueSet/observation-category",
              "http://hl7.org/fhir/ValueSet/observation-vitalsignresult",
              "http://hl7.org/fhir/ValueSet/encounter-status", "http://hl7.org/fhir/ValueSet/observation-status",
              "http://hl7.org/fhir/ValueSet/appointmentstatus", "http://hl7.org/fhir/ValueSet/medicationrequest-status",
              "http://hl7.org/fhir/ValueSet/administrative-gender",
              "http://hl7.org/fhir/ValueSet/condition-clinical", "http://hl7.org/fhir/ValueSet/condition-ver-status",
              "http://hl7.org/fhir/ValueSet/allergyintolerance-clinical", "http://hl7.org/fhir/ValueSet/goal-achievement",
              "http://hl7.org/fhir/ValueSet/event-status", "http://hl7.org/fhir/ValueSet/goal-status",
              "http://hl7.org/fhir/ValueSet/diagnostic-report-status",
              "http://hl7.org/fhir/ValueSet/audit-event-action", "http://hl7.org/fhir/ValueSet/audit-event-outcome",
              "http://hl7.org/fhir/ValueSet/audit-event-type", "http://hl7.org/fhir/ValueSet/audit-event-sub-type"]


def _known_codes(t: Tok, found: list) -> list[tuple[str, str]]:
    """The stored (system, code) pairs of a code system the server knows."""
    systems = terminology()["codeSystems"]
    return [(c.system, c.code) for n in found for c in coded(n, t.implicit)
            if c.system in systems and c.code in systems[c.system]["codes"]]


def in_hierarchy(t: Tok, found: list) -> bool:
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
