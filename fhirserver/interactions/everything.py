"""Patient/[id]/$everything and Encounter/[id]/$everything (R4 OperationDefinitions
Patient-everything, Encounter-everything): the resource, every resource of its compartment
(the R4 CompartmentDefinition's parameters), and what those resources refer to, as a
searchset paged type after type (system_search.answer).

Parameters: `_since` (changed at or after), `_type` (only these types), `_count` (page size).
`start` and `end` (care dates) are refused with a clear message rather than ignored: ignoring
them would answer more than was asked. AuditEvent, although in the R4 compartment, is left
out unless `_type` names it: the trail of accesses to a record is not the record, and every
call would add to it. Each type is searched under the caller's own confinement and only if
its scopes allow searching it. Of the compartment's types (66 for Patient), only those with a
resource that refers to this one (the reference index, resource_refs) are searched: a member
refers to it by definition, and a search of each of the others would find nothing, at a cost.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.fhirtime import interval
from fhirserver.interactions import guard, units
from fhirserver.interactions.system_search import Part, answer
from fhirserver.outcomes import Category, FhirError, invalid
from fhirserver.spec import compartments
from fhirserver.validation import check_id
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast
from searchparams.catalog import supported
from searchparams.cursor import decode_token
from searchparams.parse import DEFAULT_COUNT, MAX_COUNT

_UNLESS_ASKED = frozenset({"AuditEvent"})
# Types whose references the reference index does not hold (the audit trail's, fhirserver/audit/log.py).
_UNINDEXED = frozenset({"AuditEvent"})
DEFINED_FOR = ("Patient", "Encounter")   # the types R4 defines $everything for


def _members(owner: str, type_name: str, id_: str) -> ast.Filter:
    """Membership of `type_name` in the compartment of `owner`/`id_` (and the owner itself)."""
    params = [p for p in compartments()[owner].get(type_name, ()) if p in supported(type_name)]
    clauses = [ast.Clause(p, None, (ast.Reference((f"{owner}/{id_}",)),)) for p in params]
    if type_name == owner:
        clauses.insert(0, ast.Clause("_id", None, (ast.Token(None, id_),)))
    return ast.AnyOf(tuple(clauses))


def _cursor_type(ctx: RequestContext) -> str | None:
    """The type a page cursor continues in (kept even if nothing of it refers here any more)."""
    cursor = ctx.param("_cursor")
    value = decode_token(cursor) if cursor else None
    return value[0] if isinstance(value, list) and value and isinstance(value[0], str) else None


def _options(ctx: RequestContext) -> tuple[list[tuple[str, str]], list[str] | None, int]:
    filters, types, count = [], None, DEFAULT_COUNT
    for key, value in ctx.params:
        if key == "_since":
            if interval(value) is None or "T" not in value:
                raise invalid(f"_since must be an instant such as 2024-01-01T00:00:00Z, not {value!r}", "OP-SINCE")
            filters.append(("_lastUpdated", f"ge{value}"))
        elif key == "_type":
            types = [t.strip() for t in value.split(",") if t.strip()]
        elif key == "_count":
            if not value.isdigit():
                raise invalid("_count must be a non-negative integer", "OP-COUNT")
            count = min(int(value), MAX_COUNT)
        elif key in ("start", "end"):
            raise FhirError.of(Category.INCORRECT, "not-supported", "OP-PARAM",
                               f"$everything's '{key}' (care dates) is not supported; use _since or a search")
    return filters, types, count


async def everything(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    owner = m.resource_type
    if owner not in DEFINED_FOR:
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "OP-UNKNOWN",
                           f"$everything is defined for {' and '.join(DEFINED_FOR)}, not {owner}")
    check_id(id_, f"{owner}.id")
    await guard.check_readable(ctx, m, id_)
    await units.read(ctx, lambda conn: resources.read(conn, m, ctx.org_id, id_))   # 404 or 410 first
    filters, listed, count = _options(ctx)
    members = compartments()[owner]
    types = [owner] + sorted(t for t in members if t in MAPPINGS and t != owner)
    if listed is not None:
        unknown = [t for t in listed if t not in types]
        if unknown:
            raise invalid(f"_type names types outside the {owner} compartment of this server: "
                          f"{', '.join(unknown)}", "OP-TYPE")
        types = [t for t in types if t in listed]
    else:
        types = [t for t in types if t not in _UNLESS_ASKED]
    types = [t for t in types if ctx.access is None or ctx.access.allows(t, "s")]
    referring = await units.read(ctx, lambda conn: resources.referring_types(conn, ctx.org_id, owner, id_))
    types = [t for t in types if t == owner or t in referring or t in _UNINDEXED or t == _cursor_type(ctx)]
    parts = [Part(t, tuple(filters) + (("_include", f"{t}:*"),), (_members(owner, t, id_),)) for t in types]
    ctx.effects.query = urlencode(list(ctx.params))
    applied = [(k, v) for k, v in ctx.params if k in ("_since", "_type")]
    return await answer(ctx, parts, applied, count, ctx.param("_cursor"),
                        f"{ctx.base_url}/{owner}/{id_}/$everything")
