"""Hypothesis strategies for the data types inside the resources the search properties store
(codings, identifiers, references, periods, quantities, names, addresses, contact points, meta),
drawing their values from tests/property/oracle_pools.py.

References are relative, absolute on this server, to a resource on another server, or by
identifier only; local ones point at the world's pool resources (or, for the reverse-chain
property, at its candidates: `World.pointing_at`).

Why not tests/property/strategies.py: its schema-driven elements draw free text, codes and
dates from the whole of what R4 allows, so two resources almost never share a value and a
search almost never hits; these draw from small pools on purpose.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.property.oracle import date_interval
from tests.property.oracle_pools import (
    CC_TEXTS,
    CITIES,
    CODES,
    CONFIDENTIALITY,
    COUNTRIES,
    CP_VALUES,
    DATE_TIMES,
    DISPLAYS,
    FAMILIES,
    GIVENS,
    ID_SYSTEMS,
    ID_TYPES,
    ID_VALUES,
    LINES,
    LOINC,
    NAME_AFFIXES,
    NAME_TEXTS,
    OTHER_CS,
    POSTAL,
    PROFILES,
    QTY_UNITS,
    QTY_VALUES,
    SOURCES,
    STATES,
    TAG_POOL,
    V2_0203,
)
from tests.property.oracle_world import OTHER, World
from tests.property.strategies import DecimalText


def maybe(strategy, p: float = 0.5):
    """`strategy` with probability about `p`, else None."""
    return st.integers(0, 99).flatmap(lambda n: strategy if n < p * 100 else st.none())


def put(r: dict, key: str, value) -> None:
    """r[key] = value, unless value is None or empty (FHIR JSON has no empty elements)."""
    if value is not None and value != []:
        r[key] = value


@st.composite
def coding(draw, codes=CODES, systems=(LOINC, OTHER_CS, None), displays=DISPLAYS) -> dict:
    """Mostly system and code; now and then a system or a display alone (both valid Codings)."""
    c = {}
    put(c, "system", draw(st.sampled_from(systems)))
    if draw(st.integers(0, 9)):
        c["code"] = draw(st.sampled_from(codes))
    put(c, "display", draw(maybe(st.sampled_from(displays))))
    return c if c else {"code": draw(st.sampled_from(codes))}


@st.composite
def concept(draw, codes=CODES, systems=(LOINC, OTHER_CS, None), texts=CC_TEXTS) -> dict:
    cc = {}
    put(cc, "coding", draw(st.lists(coding(codes, systems), max_size=2)))
    put(cc, "text", draw(maybe(st.sampled_from(texts))))
    return cc or {"text": draw(st.sampled_from(texts))}


@st.composite
def identifier(draw) -> dict:
    i = {}
    put(i, "system", draw(maybe(st.sampled_from(ID_SYSTEMS), 0.7)))
    if draw(st.booleans()):
        code, text = draw(st.sampled_from(ID_TYPES))
        t = {"coding": [{"system": V2_0203, "code": code}]}
        put(t, "text", draw(maybe(st.just(text))))
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
    put(q, "unit", unit)
    put(q, "system", system)
    put(q, "code", code)
    return q


@st.composite
def human_name(draw) -> dict:
    n = {}
    put(n, "use", draw(maybe(st.sampled_from(["official", "nickname"]), 0.3)))
    put(n, "text", draw(maybe(st.sampled_from(NAME_TEXTS), 0.3)))
    put(n, "family", draw(maybe(st.sampled_from(FAMILIES), 0.8)))
    put(n, "given", draw(st.lists(st.sampled_from(GIVENS), max_size=2)))
    put(n, "prefix", draw(st.lists(st.sampled_from(NAME_AFFIXES[:2]), max_size=1)))
    put(n, "suffix", draw(st.lists(st.just(NAME_AFFIXES[2]), max_size=1)))
    return n if set(n) - {"use"} else {"family": draw(st.sampled_from(FAMILIES))}


@st.composite
def address(draw) -> dict:
    a = {}
    put(a, "use", draw(maybe(st.sampled_from(["home", "work"]))))
    put(a, "line", draw(st.lists(st.sampled_from(LINES), max_size=2)))
    for key, pool in (("city", CITIES), ("state", STATES), ("postalCode", POSTAL), ("country", COUNTRIES)):
        put(a, key, draw(maybe(st.sampled_from(pool))))
    return a if set(a) - {"use"} else {"city": draw(st.sampled_from(CITIES))}


@st.composite
def contact_point(draw) -> dict:
    system = draw(st.sampled_from(["phone", "email"]))
    c = {"system": system, "value": draw(st.sampled_from(CP_VALUES[system]))}
    put(c, "use", draw(maybe(st.sampled_from(["home", "work"]), 0.3)))
    return c


@st.composite
def meta(draw, tag: dict) -> dict:
    """The example's tag, and now and then more tags, a security label, profiles and a source."""
    m = {"tag": [tag] + draw(st.lists(coding(("a", "b", "A"), (TAG_POOL,), ("Alpha", "Beta")), max_size=1))}
    put(m, "security", draw(st.lists(coding(("R", "N"), (CONFIDENTIALITY,), ("restricted",)), max_size=1)))
    put(m, "profile", draw(st.lists(st.sampled_from(PROFILES), max_size=2, unique=True)))
    put(m, "source", draw(maybe(st.sampled_from(SOURCES), 0.3)))
    return m
