"""The write side of search: a resource's values for every supported parameter.

`index_rows(resource)` evaluates each parameter's official expression (compiled by
searchparams.fhirpath) and turns the typed nodes into rows of the type's side tables
(kinds in searchparams.catalog). One value, one row: multi-valued elements stay exact
(a system and a code come from the same Coding; a date range is never merged).
Row layouts, after (org_id, [part_ts,] id), which the SQL adds:
    tok  (param, system, code, text)     a coded value, or (param, NULL, NULL, folded text) for :text
    str  (param, norm, exact)            norm: case- and accent-folded, for prefix and :contains;
                                         for `phonetic`, a name part's phonetic key (phonetic.py)
    date (param, lo, hi)                 [lo, hi), NULL for an open end
    ref  (param, target)                 "Type/id" for relative references, else the URL as written
    qty  (param, value, system, code, unit)
    comp (param, c1_system, c1_code, v_system, v_code, v_num, v_lo, v_hi, v_str)
Extra token params: "<code>:of-type" for Identifier types, "<code>:identifier" for Reference.identifier.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from itertools import product

from fhirserver.fhirtime import interval
from fhirserver.textfold import normalize_text
from searchparams import catalog, phonetic
from searchparams.catalog import COMPOSITE, DATE, QUANTITY, REFERENCE, STRING, TOKEN, Param
from searchparams.fhirpath import Node, roots

_STRING_PARTS = {"HumanName": ("family", "given", "prefix", "suffix", "text"),
                 "Address": ("line", "city", "district", "state", "postalCode", "country", "text")}
_QUANTITIES = {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
_NUMBERS = {"decimal", "integer", "positiveInt", "unsignedInt"}


def _tokens(param: str, node: Node, system: str | None = None) -> list[tuple]:
    """`system`: the implied system of a bound `code` element (catalog.Param.code_system)."""
    value, kind = node
    if kind == "boolean":
        return [(param, None, "true" if value else "false", None)]
    if not isinstance(value, dict):
        return [(param, system if kind == "code" else None, str(value), None)]
    if kind == "CodeableConcept":
        rows = [r for c in value.get("coding", ()) for r in _tokens(param, (c, "Coding"))]
        if value.get("text"):
            rows.append((param, None, None, normalize_text(value["text"])))
        return rows
    if kind == "Coding":
        has_value = value.get("code") or value.get("system")
        rows = [(param, value.get("system"), value.get("code"), None)] if has_value else []
        if value.get("display"):
            rows.append((param, None, None, normalize_text(value["display"])))
        return rows
    if kind == "Identifier":
        rows = [(param, value.get("system"), value.get("value"), None)]
        for coding in value.get("type", {}).get("coding", ()):
            type_key = f"{coding.get('system', '')}|{coding.get('code', '')}"
            rows.append((f"{param}:of-type", type_key, value.get("value"), None))
        if value.get("type", {}).get("text"):
            rows.append((param, None, None, normalize_text(value["type"]["text"])))
        return rows
    if kind == "ContactPoint":   # R4's token table gives ContactPoint a value and no system
        return [(param, None, value.get("value"), None)]
    return []


def _strings(param: str, node: Node) -> list[tuple]:
    value, kind = node
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, dict):
        texts = []
        for part in _STRING_PARTS.get(kind, ()):
            got = value.get(part)
            texts += got if isinstance(got, list) else ([got] if got else [])
    else:
        texts = []
    return [(param, normalize_text(t), t) for t in texts if isinstance(t, str)]


def _phonetic(param: str, node: Node) -> list[tuple]:
    """(param, key, the name part) for each phonetic key of a HumanName's family and given names.
    A name with no key (only a prefix, say) still gets a row, with the empty key no search
    value has: the element is present, so `:missing=true` must not find it."""
    value, kind = node
    if kind != "HumanName" or not isinstance(value, dict):
        return []
    rows = []
    for part in phonetic.PARTS:
        got = value.get(part)
        for text in got if isinstance(got, list) else ([got] if got else []):
            if isinstance(text, str):
                rows += [(param, k, text) for k in phonetic.keys(text)]
    return rows or [(param, "", "")]


def _span(node: Node) -> tuple | None:
    value, kind = node
    if isinstance(value, str):
        return interval(value)
    if kind == "Period" and isinstance(value, dict):
        lo = interval(value["start"]) if "start" in value else None
        hi = interval(value["end"]) if "end" in value else None
        return (lo[0] if lo else None, hi[1] if hi else None)
    return None


def _dates(param: str, node: Node) -> list[tuple]:
    value, kind = node
    if kind == "Timing" and isinstance(value, dict):
        spans = [interval(e) for e in value.get("event", ())]
        return [(param, s[0], s[1]) for s in spans if s]
    span = _span(node)
    return [(param, span[0], span[1])] if span and (span[0] or span[1]) else []


def _references(param: str, node: Node, base: str) -> tuple[list[tuple], list[tuple]]:
    """(ref rows, token rows for :identifier). References to our own base are made relative."""
    value, kind = node
    if isinstance(value, str):
        return [(param, value)], []
    if not isinstance(value, dict):
        return [], []
    refs, toks = [], []
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        parts = ref.split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            ref = "/".join(parts[:-2])
        if base and ref.startswith(base + "/"):
            ref = ref[len(base) + 1:]
        refs.append((param, ref))
    if isinstance(value.get("identifier"), dict):
        ident = value["identifier"]
        toks.append((f"{param}:identifier", ident.get("system"), ident.get("value"), None))
    return refs, toks


def _decimal(raw: object) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
        return None
    try:
        return Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation:
        return None


def _quantities(param: str, node: Node) -> list[tuple]:
    value, kind = node
    if kind in _NUMBERS:
        number = _decimal(value)
        return [(param, number, None, None, None)] if number is not None else []
    if kind == "SampledData" and isinstance(value, dict):
        value, kind = value.get("origin", {}), "Quantity"
    if kind in _QUANTITIES and isinstance(value, dict) and (number := _decimal(value.get("value"))) is not None:
        return [(param, number, value.get("system"), value.get("code"), value.get("unit"))]
    return []


def _component_values(part: Param, root: Node) -> list[tuple]:
    """Per composite part: token parts give (system, code); others their second-value columns."""
    nodes = part.path([root])
    if part.kind == TOKEN:
        return [(r[1], r[2]) for n in nodes for r in _tokens("", n, part.code_system) if r[2] is not None]
    if part.kind == QUANTITY:
        return [row for n in nodes for q in _quantities("", n) for row in _quantity_part(q)]
    if part.kind == DATE:
        return [(None, None, None, d[1], d[2], None) for n in nodes for d in _dates("", n)]
    if part.kind == STRING:
        return [(None, None, None, None, None, s[1]) for n in nodes for s in _strings("", n)]
    return []


def _quantity_part(q: tuple) -> list[tuple]:
    """(v_system, v_code, v_num, ...) of a quantity part: the coded unit, and the human unit as a
    row of its own without a system, so `5.4||milligram` finds it as the quantity table does
    (search.html#quantity: with no system, the code or the stated unit) and
    `5.4|http://unitsofmeasure.org|milligram` does not."""
    _, number, system, code, unit = q
    rows = [(system, code, number, None, None, None)]
    if unit and unit != code:
        rows.append((None, unit, number, None, None, None))
    return rows


def _composites(p: Param, roots: list[Node]) -> list[tuple]:
    rows = []
    first, second = p.components[0], p.components[1]
    for root in roots:
        for (s1, c1), v in product(_component_values(first, root), _second(second, root)):
            rows.append((p.code, s1, c1, *v))
    return rows


def _second(part: Param, root: Node) -> list[tuple]:
    values = _component_values(part, root)
    if part.kind == TOKEN:   # (v_system, v_code) and empty numeric/date/string columns
        return [(s, c, None, None, None, None) for s, c in values]
    return values


def _deceased(resource: dict) -> list[tuple]:
    """Patient.deceased.exists() and Patient.deceased != false."""
    flag = resource.get("deceasedBoolean")
    dead = "deceasedDateTime" in resource or flag is True
    return [("deceased", None, "true" if dead else "false", None)]


@cache
def _code_systems(resource_type: str) -> dict[str, str]:
    return {p.code: p.code_system for p in _plan(resource_type) if p.kind == TOKEN and p.code_system}


@cache
def _plan(resource_type: str) -> tuple[Param, ...]:
    return tuple(catalog.indexed(resource_type).values())


@cache
def _readers(resource_type: str) -> tuple[dict[str, tuple[Param, ...]], tuple[Param, ...]]:
    """Per JSON key, the parameters that read it; and those that read the whole resource
    (composites over the root, hand-written extractors), which every resource needs."""
    by_key: dict[str, list[Param]] = {}
    whole = []
    for p in _plan(resource_type):
        keys = roots(p.definition.expression, resource_type) if p.path is not None else None
        if keys is None:
            whole.append(p)
        for key in keys or ():
            by_key.setdefault(key, []).append(p)
    return {k: tuple(v) for k, v in by_key.items()}, tuple(whole)


def _params_of(resource_type: str, keys) -> list[Param]:
    """The parameters a resource with these keys can have values for, in plan order: most of
    a type's parameters read elements a given resource does not have."""
    by_key, whole = _readers(resource_type)
    wanted = {p.code for k in keys for p in by_key.get(k, ())} | {p.code for p in whole}
    return [p for p in _plan(resource_type) if p.code in wanted]


def index_rows(resource: dict, base: str = "") -> dict[str, list[tuple]]:
    """Side-table rows, by kind, for every supported parameter of the resource's type."""
    resource_type = resource["resourceType"]
    return _sorted(_rows(resource, _params_of(resource_type, resource), base))


def element_rows(resource_type: str, key: str, value: object, base: str = "") -> dict[str, list[tuple]]:
    """The rows one top-level element contributes: index_rows of a resource is the union of
    its elements' rows and those of the whole-resource parameters (`whole_rows`), because
    every branch of a supported expression reads one element (fhirpath.roots). A caller
    whose resources repeat most elements (the audit log) computes each distinct one once.
    Unlike index_rows, the rows are neither sorted nor free of repeats."""
    by_key, _ = _readers(resource_type)
    return _rows({"resourceType": resource_type, key: value}, by_key.get(key, ()), base)


def whole_rows(resource: dict, base: str = "") -> dict[str, list[tuple]]:
    """The rows of the parameters that read the resource as a whole (see element_rows)."""
    return _rows(resource, _readers(resource["resourceType"])[1], base)


def _sorted(out: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {k: sorted(set(rows), key=repr) for k, rows in out.items()}


def _rows(resource: dict, params, base: str) -> dict[str, list[tuple]]:
    resource_type = resource["resourceType"]
    root = [(resource, resource_type)]
    out: dict[str, list[tuple]] = {k: [] for k in catalog.kinds(resource_type)}
    for p in params:
        if p.path is None:
            out[TOKEN] += _deceased(resource)
            continue
        nodes = p.path(root)
        if p.kind == TOKEN:
            system = _code_systems(resource_type).get(p.code)
            out[TOKEN] += [r for n in nodes for r in _tokens(p.code, n, system)]
        elif p.kind == STRING:
            read = _phonetic if p.code == phonetic.CODE else _strings
            out[STRING] += [r for n in nodes for r in read(p.code, n)]
        elif p.kind == DATE:
            out[DATE] += [r for n in nodes for r in _dates(p.code, n)]
        elif p.kind == REFERENCE:
            for n in nodes:
                refs, toks = _references(p.code, n, base)
                out[REFERENCE] += refs
                out[TOKEN] += toks
        elif p.kind == QUANTITY:
            out[QUANTITY] += [r for n in nodes for r in _quantities(p.code, n)]
        elif p.kind == COMPOSITE:
            out[COMPOSITE] += _composites(p, nodes)
    return out


def side_arrays(resource: dict, base: str = "") -> list[list]:
    """index_rows as the column arrays the storage statements unnest (mappings/sql.py)."""
    rows = index_rows(resource, base)
    arrays: list[list] = []
    for kind in catalog.kinds(resource["resourceType"]):
        width = len(catalog.KIND_COLUMNS[kind])
        columns = list(zip(*rows[kind])) if rows[kind] else [()] * width
        arrays.extend(list(c) for c in columns)
    return arrays
