"""The caller's confinement, ANDed into every table a search reads.

A SMART patient token must see only its patient's compartment, whatever the query
says. Adding the filter at the top would not be enough: a chain (`subject:Patient.name=`)
or a `_has` reads another table and could tell, by the answer, what another patient's
rows hold. So every node that reads a table gets the filter of that table's type.
`policy(type)` answers the filter (None: unrestricted); the rewrite returns the same
object when nothing applies (STYLE: rewrites are identities when they do not apply).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from searchparams import ast

Policy = Callable[[str], "ast.Filter | None"]


def _and(inner: ast.Filter, extra: ast.Filter | None) -> ast.Filter:
    return inner if extra is None else ast.AllOf((inner, extra))


def confine_filter(f: ast.Filter, policy: Policy) -> ast.Filter:
    if isinstance(f, ast.Chain):
        return ast.Chain(f.code, f.target_type, _and(confine_filter(f.inner, policy), policy(f.target_type)))
    if isinstance(f, ast.Has):
        return ast.Has(f.source_type, f.ref_code, _and(confine_filter(f.inner, policy), policy(f.source_type)))
    if isinstance(f, (ast.AnyOf, ast.AllOf)):
        return type(f)(tuple(confine_filter(g, policy) for g in f.filters))
    return f


def _reads_other_tables(f: ast.Filter) -> bool:
    if isinstance(f, (ast.Chain, ast.Has)):
        return True
    return isinstance(f, (ast.AnyOf, ast.AllOf)) and any(_reads_other_tables(g) for g in f.filters)


def confine(search: ast.Search, policy: Policy) -> ast.Search:
    """`search` with the policy's filter on its own type and inside every chain and _has."""
    own = policy(search.resource_type)
    if own is None and not any(_reads_other_tables(f) for f in search.filters):
        return search
    filters = tuple(confine_filter(f, policy) for f in search.filters)
    return replace(search, filters=filters + ((own,) if own is not None else ()))
