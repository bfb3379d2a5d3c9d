"""Hypothesis strategies for search clauses: a parameter of the searched type, a modifier, and
one or more OR-ed values (tests/property/oracle_values.py); chains and reverse chains.

Clauses use the prefixes eq ne gt lt ge le sa eb ap, the modifiers :missing :not :text :of-type
:exact :contains :identifier :[type] :below :above (on uris, and on tokens of R4's own code
systems) :in :not-in, and escaped separators; chains run one or two links through the pool
resources, and `_has` clauses (nested once at most) take any of these as their inner clause.
"""

from __future__ import annotations

from hypothesis import strategies as st

from searchparams import catalog
from tests.property.oracle import Clause, Has, Node, escape, token_texts
from tests.property.oracle_params import COMPOSITES, REFERRERS, SEARCHED, Dt, Phon, Qty, Ref, Str, Tok, Uri
from tests.property.oracle_pools import ID_TYPES, ID_VALUES, V2_0203
from tests.property.oracle_values import (
    composite_value,
    concept_query,
    date_query,
    in_hierarchy,
    quantity_query,
    reference_query,
    stored,
    string_query,
    token_query,
    uri_query,
)
from tests.property.oracle_world import World

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


@st.composite
def clause(draw, type_name: str, w: World, resources: list[dict], codes: tuple[str, ...] = ()) -> Clause:
    """A clause over one of the type's searched parameters (or of `codes` only)."""
    if type_name == "Observation" and not codes and draw(st.integers(0, 5)) == 0:
        code = draw(st.sampled_from(sorted(c for c in COMPOSITES if c in catalog.supported("Observation"))))
        n = draw(st.sampled_from([1, 1, 2]))
        return Clause(code, None, tuple(draw(composite_value(code, resources)) for _ in range(n)))
    code = draw(st.sampled_from(sorted(codes or SEARCHED[type_name])))
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
            if in_hierarchy(kind, found):   # stored codes with concepts over or under them
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
        return Clause(code, None, tuple(draw(date_query(code, resources, found, kind)) for _ in range(n)))
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
