"""Patient/[id]/$everything and Encounter/[id]/$everything (R4 OperationDefinitions
Patient-everything, Encounter-everything): the resource, every resource of its compartment
(the R4 CompartmentDefinition's parameters), and what those resources refer to, as a
searchset paged type after type, by id within a type (system_search.searchset).

Parameters: `_since` (changed at or after), `_type` (only these types), `_count` (page size).
`start` and `end` (care dates) are refused with a clear message rather than ignored: ignoring
them would answer more than was asked. AuditEvent, although in the R4 compartment, is left
out unless `_type` names it: the trail of accesses to a record is not the record, and every
call would add to it. Each type is read under the caller's own confinement and only if its
scopes allow searching it.

How: a member refers to the owner, so the reference index (resource_refs) names every
candidate in one index-only read; one statement per type keeps those that refer through a
compartment parameter (sqlgen/compartment.py), each probed in its own month; a page is then
fetched by id with every resource it refers to (the index again: R4's $everything brings what
the record refers to, whether or not a search parameter covers the element). A search per
compartment type (66 for Patient, most of them empty, each walking a patient's months) was
the first way; it remains for the audit trail, whose references the index does not hold.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.fhirtime import interval
from fhirserver.interactions import guard, units
from fhirserver.interactions.system_search import Page, Part, answer, cursor_type, searchset
from fhirserver.outcomes import Category, FhirError, invalid
from fhirserver.spec import compartments
from fhirserver.validation import check_id
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast, execute, pipeline
from searchparams.catalog import supported
from searchparams.cursor import decode_token
from searchparams.parse import DEFAULT_COUNT, MAX_COUNT
from searchparams.sqlgen import compartment, include

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


def _options(ctx: RequestContext) -> tuple[list[tuple[str, str]], datetime | None, list[str] | None, int]:
    """The search filters `_since` makes (for the search per type), the instant itself (the
    latest, if given more than once), `_type` and `_count`."""
    filters, since, types, count = [], None, None, DEFAULT_COUNT
    for key, value in ctx.params:
        if key == "_since":
            span = interval(value)
            if span is None or "T" not in value:
                raise invalid(f"_since must be an instant such as 2024-01-01T00:00:00Z, not {value!r}", "OP-SINCE")
            filters.append(("_lastUpdated", f"ge{value}"))
            since = max(since, span[0]) if since else span[0]
        elif key == "_type":
            types = [t.strip() for t in value.split(",") if t.strip()]
        elif key == "_count":
            if not value.isdigit():
                raise invalid("_count must be a non-negative integer", "OP-COUNT")
            count = min(int(value), MAX_COUNT)
        elif key in ("start", "end"):
            raise FhirError.of(Category.INCORRECT, "not-supported", "OP-PARAM",
                               f"$everything's '{key}' (care dates) is not supported; use _since or a search")
    return filters, since, types, count


async def everything(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    owner = m.resource_type
    if owner not in DEFINED_FOR:
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "OP-UNKNOWN",
                           f"$everything is defined for {' and '.join(DEFINED_FOR)}, not {owner}")
    check_id(id_, f"{owner}.id")
    await guard.check_readable(ctx, m, id_)
    await units.read(ctx, lambda conn: resources.read(conn, m, ctx.org_id, id_))   # 404 or 410 first
    filters, since, listed, count = _options(ctx)
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
    ctx.effects.query = urlencode(list(ctx.params))
    applied = [(k, v) for k, v in ctx.params if k in ("_since", "_type")]
    url = f"{ctx.base_url}/{owner}/{id_}/$everything"
    cursor = ctx.param("_cursor")
    if not any(t in _UNINDEXED for t in types):
        page = await units.read(ctx, lambda conn: _record(conn, ctx, owner, id_, types, since, count, cursor))
        return searchset(ctx, page, applied, count, cursor, url)
    # With the audit trail, whose references the index does not hold: a search per type.
    referring = await units.read(ctx, lambda conn: resources.referring_types(conn, ctx.org_id, owner, id_))
    types = [t for t in types if t == owner or t in referring or t in _UNINDEXED or t == cursor_type(cursor)]
    parts = [Part(t, tuple(filters) + (("_include", f"{t}:*"),), (_members(owner, t, id_),)) for t in types]
    return await answer(ctx, parts, applied, count, cursor, url)


async def _record(conn, ctx: RequestContext, owner: str, id_: str, types: list[str], since: datetime | None,
                  count: int, cursor: str | None) -> Page:
    """One page of the record, in (type, id) order: the members found from the reference index
    (candidates: what refers to the owner; members: those referring through a compartment
    parameter, within the caller's confinement, changed since `since`), then the page's
    resources and what they refer to."""
    org = ctx.org_id
    candidates: dict[str, set[str]] = {t: set() for t in types}
    for type_name, source in await resources.referring(conn, org, owner, id_):
        if type_name in candidates:
            candidates[type_name].add(source)
    order = {t: n for n, t in enumerate(types)}
    after = _record_position(cursor, order)
    members: list[tuple[str, str, str]] = []   # (type, id, JSON)
    for t in types:   # in page order, from the cursor on, until the page and one more are found
        if after is not None and order[t] < after[0]:
            continue
        if count and len(members) > count:
            break
        m, ids = MAPPINGS[t], sorted(candidates[t] - {id_} if t == owner else candidates[t])
        if after is not None and order[t] == after[0]:
            ids = [i for i in ids if i > after[1]]
        if t == owner and (after is None or id_ > after[1]):
            ids = sorted(ids + [id_])
        while ids:   # a chunk at a time, about as many as the page still needs
            size = max(count + 1 - len(members), 50) if count else len(ids)
            chunk, ids = ids[:size], ids[size:]
            members += [(t, i, text) for i, text in await _members_of(conn, ctx, m, owner, id_, chunk, since,
                                                                          with_resource=count > 0)]
            if count and len(members) > count:
                break
    if count == 0:
        return Page([], [], None, len(members))
    rows, more = members[:count], len(members) > count
    page = [(t, i) for t, i, _ in rows]
    shown = set(page)
    referred = [r for r in await resources.referred(conn, org, page) if r not in shown and r[0] in MAPPINGS]
    return Page(rows, await _fetch(conn, ctx, referred), ["record", *page[-1]] if more else None, None)


async def _fetch(conn, ctx: RequestContext, wanted: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(type, id, JSON) of `wanted`, type by type, of what the caller may read."""
    out = []
    for t in dict.fromkeys(t for t, _ in wanted):
        m, ids = MAPPINGS[t], sorted({i for u, i in wanted if u == t})
        confinement = ctx.access.confinement(t, "rs") if ctx.access is not None else None
        if confinement is not None:
            ids = await pipeline.visible_ids(conn, pipeline.SearchRequest(m, ctx.org_id, extra=(confinement,)), ids)
        out += [(t, i, text) for i, text in await execute.resources(conn, include.by_id(m, ids, ctx.org_id))]
    return out


async def _members_of(conn, ctx: RequestContext, m: ResourceMapping, owner: str, id_: str, ids: list[str],
                      since: datetime | None, with_resource: bool) -> list[tuple[str, str | None]]:
    """(id, JSON) of those of `ids` (sorted) in the compartment of owner/id_, changed since
    `since`, that the caller may search; the owner itself is one when it is among them."""
    others = [i for i in ids if not (m.resource_type == owner and i == id_)]
    found = await execute.resources(conn, compartment.members(
        m, f"{owner}/{id_}", _params(owner, m.resource_type), others, ctx.org_id, since, with_resource)) \
        if others else []
    if len(others) < len(ids):
        me = await resources.read(conn, m, ctx.org_id, id_)
        found += [(id_, me.resource)] if since is None or me.last_updated >= since else []
    confinement = ctx.access.confinement(m.resource_type, "s") if ctx.access is not None else None
    if confinement is not None and found:
        kept = set(await pipeline.visible_ids(conn, pipeline.SearchRequest(m, ctx.org_id, extra=(confinement,)),
                                              [i for i, _ in found]))
        found = [(i, text) for i, text in found if i in kept]
    return sorted(found)


def _params(owner: str, type_name: str) -> list[str]:
    return [p for p in compartments()[owner].get(type_name, ()) if p in supported(type_name)]


def _record_position(cursor: str | None, order: dict[str, int]) -> tuple[int, str] | None:
    if cursor is None:
        return None
    value = decode_token(cursor)
    if not (isinstance(value, list) and len(value) == 3 and value[0] == "record" and value[1] in order
            and isinstance(value[2], str)):
        raise invalid("The page cursor is not one this operation issued", "PAGE-CURSOR")
    return order[value[1]], value[2]
