"""The write side of search: a resource's values for every supported parameter.

`index_rows(resource)` evaluates each parameter's official expression (compiled by
searchparams.fhirpath) and lets the parameter's kind (searchparams/kinds) turn the typed
nodes into rows of the type's side tables, whose layouts the kinds declare. One value,
one row: multi-valued elements stay exact (a system and a code come from the same Coding;
a date range is never merged). The SQL adds each row's key (org_id, [part_ts,] id).
"""

from __future__ import annotations

from functools import cache

from searchparams import catalog
from searchparams.catalog import Param
from searchparams.fhirpath import roots
from searchparams.kinds import BY_SUFFIX


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
    """Side-table rows, by table suffix, for every supported parameter of the resource's type."""
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


def read_keys(resource_type: str) -> frozenset[str]:
    """The top-level elements some parameter reads (element by element): the others have no rows."""
    return frozenset(_readers(resource_type)[0])


def whole_rows(resource: dict, base: str = "") -> dict[str, list[tuple]]:
    """The rows of the parameters that read the resource as a whole (see element_rows)."""
    return _rows(resource, _readers(resource["resourceType"])[1], base)


def _sorted(out: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {k: sorted(set(rows), key=repr) for k, rows in out.items()}


def _rows(resource: dict, params, base: str) -> dict[str, list[tuple]]:
    root = [(resource, resource["resourceType"])]
    out: dict[str, list[tuple]] = {k: [] for k in catalog.tables(resource["resourceType"])}
    for p in params:
        p.kind.index(p, p.path(root) if p.path is not None else root, out, base)
    return out


def side_arrays(resource: dict, base: str = "") -> list[list]:
    """index_rows as the column arrays the storage statements unnest (mappings/sql.py)."""
    return as_arrays(resource["resourceType"], index_rows(resource, base))


def as_arrays(resource_type: str, rows: dict[str, list[tuple]]) -> list[list]:
    """Rows by side table as one array per column, the tables in catalog.tables order."""
    arrays: list[list] = []
    for suffix in catalog.tables(resource_type):
        width = len(BY_SUFFIX[suffix].columns)
        columns = list(zip(*rows[suffix])) if rows[suffix] else [()] * width
        arrays.extend(list(c) for c in columns)
    return arrays
