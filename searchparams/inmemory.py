"""Does one resource, held in memory, match a search filter? For what SQL cannot see: a
past version of a resource (history, vread) is not in the index, yet a confined caller
may only see the versions that were within its reach.

Only the forms a scope's confinement is made of are answered: `_id`, plain references
(the patient compartment) and plain tokens (v2 constraints such as category=laboratory),
combined with AnyOf/AllOf, in three values: True, False, or None where a form it cannot
evaluate decides (a modifier, a date, a chain). `matches` takes None as no, erring on the
side of hiding; `decide` lets the caller fall back on the search compiler, which stays the
authority for current resources.
"""

from __future__ import annotations

from searchparams import ast, catalog
from searchparams.index import index_rows
from searchparams.kinds import reference, token


def matches(resource: dict, f: ast.Filter, base: str = "") -> bool:
    return decide(resource, f, base) is True


def decide(resource: dict, f: ast.Filter, base: str = "") -> bool | None:
    """True or False; None where a form this module cannot evaluate decides."""
    return _decide(resource, f, base, {})


def _decide(resource: dict, f: ast.Filter, base: str, memo: dict) -> bool | None:
    if isinstance(f, (ast.AnyOf, ast.AllOf)):
        answers = [_decide(resource, x, base, memo) for x in f.filters]
        decisive = isinstance(f, ast.AnyOf)   # one True decides AnyOf, one False decides AllOf
        if decisive in answers:
            return decisive
        return None if None in answers else not decisive
    if not isinstance(f, ast.Clause) or f.modifier is not None:
        return None
    if f.code == "_id":
        return any(isinstance(v, ast.Token) and v.system is None and v.code == resource.get("id") for v in f.values)
    param = catalog.supported(resource["resourceType"]).get(f.code)
    if param is None or param.type not in ("reference", "token"):
        return None
    if "rows" not in memo:
        memo["rows"] = index_rows(resource, base)
    rows = memo["rows"]
    if param.type == "reference":
        targets = {target for code, target in rows.get(reference.TABLE.suffix, ()) if code == f.code}
        return any(isinstance(v, ast.Reference) and targets.intersection(v.targets) for v in f.values)
    tokens = [(system, code) for param_code, system, code, _ in rows.get(token.TABLE.suffix, ())
              if param_code == f.code]
    return any(isinstance(v, ast.Token) and any(_token(v, s, c, param.implicit_system) for s, c in tokens)
               for v in f.values)


def _token(v: ast.Token, system: str | None, code: str | None, implicit_system: bool) -> bool:
    """R4 token matching: `code` any system, `system|code`, `|code` no system, `system|` any code."""
    if v.code is not None and v.code != code:
        return False
    if v.system is None:
        return code is not None
    if v.system == "":
        return system is None
    return v.system == system or (implicit_system and system is None)
