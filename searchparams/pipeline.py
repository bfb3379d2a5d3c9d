"""One search, stage by stage, in plain sight:

    SearchRequest -> parse_request -> ast.Search -> validate -> Query -> plan -> Plan
                  -> to_sql -> Compiled -> execute -> Page    (`run`: + total, included = Result)

- parse_request: the query items -> ast.Search (searchparams/parse.py), with the filters
  the route adds and the caller's confinement in every table read (confine.py).
- validate: the opaque page cursor -> Position, or a 400 (cursor.py).
- plan: Query + the tenant's month partitions -> Plan (plan.py).
- to_sql: Plan -> Compiled, SQL text with `$n` only and its values (sqlgen/).
- execute: Compiled -> rows on the connection the caller routed (execute.py); the rows
  -> the page and the next and previous cursors (cursor.py).

No stage calls another: this module calls them, in this order. Stages up to `to_sql` are
pure; the awaits are the statements and one catalog read (the tenant's month partitions,
which the planner needs). `_include` and `_revinclude` run after the page in rounds: a
round's statements (sqlgen/include.py) name the rows the round before found.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

import asyncpg

from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast, cursor, execute
from searchparams.confine import Policy, confine
from searchparams.cursor import Page, Position
from searchparams.parse import parse, parse_filter
from searchparams.plan import PageSpec, Plan, plan_filter, plan_page
from searchparams.sqlgen import include
from searchparams.sqlgen.select import Compiled, compile_count, compile_ids, compile_page

MAX_INCLUDED = 1000
MAX_ITERATIONS = 4
_NO_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search as an interaction asks for it: the stages' only input."""

    mapping: ResourceMapping
    org_id: int
    items: tuple[tuple[str, str], ...] = ()   # the query's items, as the client sent them
    search: ast.Search | None = None          # or a search already parsed (then `items` go unread)
    strict: bool = True                       # Prefer: handling=strict (an unknown parameter is a 400)
    base: str = ""                            # this server's base URL: absolute references to it are local
    extra: tuple[ast.Filter, ...] = ()        # filters the caller adds (a compartment's membership)
    policy: Policy | None = None              # the caller's confinement by type; None: unrestricted


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed and validated search: what the planner takes."""

    request: SearchRequest
    search: ast.Search
    position: Position | None                 # where the page starts; None: the first page


@dataclass(frozen=True, slots=True)
class Result:
    page: Page
    total: int | None                         # None unless _total or _summary=count asks
    included: list[tuple[str, str, str]]      # (type, id, resource JSON) of _include and _revinclude


@dataclass(frozen=True, slots=True)
class Explained:
    """What `_explain` shows: the compiler's plan, the SQL and its values, PostgreSQL's plan."""

    plan: str
    sql: str
    params: tuple
    postgres_plan: object


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One named step between the parsed search and the one planned; `_explain` prints each."""

    name: str
    apply: Callable[[SearchRequest, ast.Search], ast.Search]


def _route_filters(request: SearchRequest, search: ast.Search) -> ast.Search:
    return replace(search, filters=search.filters + request.extra) if request.extra else search


def _confinement(request: SearchRequest, search: ast.Search) -> ast.Search:
    return search if request.policy is None else confine(search, request.policy)


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("route filters (a compartment's membership)", _route_filters),
    Rewrite("scope confinement (searchparams/confine.py)", _confinement),
)


def parse_request(request: SearchRequest) -> ast.Search:
    """The request's search; a 400 for what cannot be searched (strictly: what is unknown)."""
    return rewrites(request)[-1][1]


def rewrites(request: SearchRequest) -> list[tuple[str, ast.Search]]:
    """The parsed search, then the search after each rewrite that changed it, named."""
    m = request.mapping
    search = request.search if request.search is not None else \
        parse(m.resource_type, list(request.items), strict=request.strict, base=request.base)
    steps = [("parsed", search)]
    for step in REWRITES:
        changed = step.apply(request, search)
        if changed is not search:
            steps.append((step.name, changed))
            search = changed
    return steps


def validate(request: SearchRequest, search: ast.Search) -> Query:
    """The search with its page position; a 400 (PAGE-CURSOR) for a cursor not of this search."""
    return Query(request, search, cursor.position(request.mapping, search))


def prepare(request: SearchRequest) -> Query:
    return validate(request, parse_request(request))


def plan(query: Query, months: list[datetime] | None) -> Plan:
    """The page's plan: the search's count plus one look-ahead row, from the query's position.
    `months`: the tenant's month partitions (None: not known, or not partitioned by month)."""
    at = query.position
    spec = PageSpec(query.request.org_id, query.search.count + 1, at.keys if at else None,
                    at.backward if at else False, months)
    return plan_page(query.request.mapping, query.search, spec)


def to_sql(query: Query, page_plan: Plan) -> Compiled:
    return compile_page(query.request.mapping, query.search, page_plan)


def count_sql(query: Query) -> Compiled:
    m, search = query.request.mapping, query.search
    return compile_count(m, search, plan_filter(m, search, query.request.org_id))


def _ids_sql(request: SearchRequest, search: ast.Search, limit: int) -> Compiled:
    return compile_ids(request.mapping, search, plan_filter(request.mapping, search, request.org_id, limit))


async def page_statement(conn: asyncpg.Connection, query: Query) -> Compiled:
    """The page's statement, planned with the tenant's month partitions as the catalog has them."""
    months = await execute.tenant_months(conn, query.request.mapping, query.request.org_id)
    return to_sql(query, plan(query, months))


async def fetch_page(conn: asyncpg.Connection, query: Query) -> Page:
    q = await page_statement(conn, query)
    return cursor.page(await execute.page_rows(conn, q), query.position, query.search.count, q.sort_width)


async def total(conn: asyncpg.Connection, query: Query) -> int | None:
    """The count `_total` or `_summary=count` asks for: exact, or PostgreSQL's estimate."""
    search = query.search
    if search.summary == "count" or search.total == "accurate":
        return await execute.count(conn, count_sql(query))
    if search.total == "estimate":
        return await execute.estimate(conn, _ids_sql(query.request, search, _NO_LIMIT))
    return None


async def run(conn: asyncpg.Connection, query: Query) -> Result:
    """The total (if asked), the page (unless _summary=count) and what it includes."""
    counted = await total(conn, query)
    page = Page([]) if query.search.summary == "count" else await fetch_page(conn, query)
    included = await includes(conn, query, page.rows) if query.search.includes and page.rows else []
    return Result(page, counted, included)


async def explain(conn: asyncpg.Connection, query: Query) -> Explained:
    """The page statement with both plans, run through EXPLAIN only."""
    q = await page_statement(conn, query)
    return Explained(str(q.plan), q.sql, q.params, await execute.explain(conn, q))


async def matching_ids(conn: asyncpg.Connection, request: SearchRequest, limit: int) -> list[str]:
    """Ids of the request's matches in id order, at most `limit` (conditional interactions)."""
    return await execute.column(conn, _ids_sql(request, parse_request(request), limit))


async def visible_ids(conn: asyncpg.Connection, request: SearchRequest, ids: list[str]) -> list[str]:
    """Those of `ids` that match the request's filters (`extra`): what a confined caller may
    see of them, found by the compiler, so a read never shows what a search would hide."""
    type_name = request.mapping.resource_type
    by_id = ast.Search(type_name, (parse_filter(type_name, "_id", ",".join(ids)),), len(ids))
    return await matching_ids(conn, replace(request, search=by_id), len(ids))


async def includes(conn: asyncpg.Connection, query: Query, matches: list[tuple[str, str]]
                   ) -> list[tuple[str, str, str]]:
    """(type, id, resource) of _include and _revinclude targets of the page (and, with
    :iterate, of what they bring in), each once, matches excluded, at most MAX_INCLUDED.
    Under the request's policy only what it lets the caller see is included (or iterated from)."""
    search = query.search
    seen = {(search.resource_type, id_) for id_, _ in matches}
    frontier = {search.resource_type: [id_ for id_, _ in matches]}
    out: list[tuple[str, str, str]] = []
    for round_ in range(MAX_ITERATIONS):
        found: dict[str, list[str]] = {}
        active = [inc for inc in search.includes if round_ == 0 or inc.iterate]
        forward: dict[str, list[ast.Include]] = {}
        for inc in active:
            if not inc.reverse:
                forward.setdefault(inc.source_type, []).append(inc)
        batches = [await _forward(conn, incs, frontier, query.request.org_id) for incs in forward.values()]
        batches += [await _one_include(conn, inc, frontier, query.request.org_id) for inc in active if inc.reverse]
        for rows in batches:
            for type_name, id_, text in await _visible(conn, query.request, rows):
                if (type_name, id_) not in seen and len(out) < MAX_INCLUDED:
                    seen.add((type_name, id_))
                    out.append((type_name, id_, text))
                    found.setdefault(type_name, []).append(id_)
        if not found:
            break
        frontier = found
    return out


async def _visible(conn, request: SearchRequest, rows: list[tuple[str, str, str]]):
    """The rows whose resources the request's policy lets the caller see."""
    if request.policy is None or not rows:
        return rows
    kept: set[tuple[str, str]] = set()
    for type_name in {t for t, _, _ in rows}:
        confinement = request.policy(type_name)
        ids = sorted({i for t, i, _ in rows if t == type_name})
        if confinement is None:
            kept.update((type_name, i) for i in ids)
            continue
        confined = SearchRequest(MAPPINGS[type_name], request.org_id, extra=(confinement,))
        kept.update((type_name, i) for i in await visible_ids(conn, confined, ids))
    return [r for r in rows if (r[0], r[1]) in kept]


async def _forward(conn, incs: list[ast.Include], frontier: dict[str, list[str]], org_id: int):
    """The rows (type, id, resource) the forward includes of one source type reach from the
    resources of `frontier`: their references in one statement, then one per target type."""
    ids = frontier.get(incs[0].source_type)
    if not ids:
        return []
    wanted: dict[str, set[str | None]] = {}   # parameter -> the target types its includes allow
    for inc in incs:
        wanted.setdefault(inc.code, set()).add(inc.target_type)
    by_type: dict[str, list[str]] = {}
    for code, ref in await execute.resources(conn, include.references_from_all(incs, ids, org_id)):
        type_name, _, target = ref.partition("/")
        if type_name in MAPPINGS and "/" not in target and wanted[code] & {None, type_name}:
            by_type.setdefault(type_name, []).append(target)
    return [(t, i, text) for t, targets in by_type.items()
            for i, text in await execute.resources(conn, include.by_id(MAPPINGS[t], sorted(set(targets)), org_id))]


async def _one_include(conn, inc: ast.Include, frontier: dict[str, list[str]], org_id: int):
    """One reverse include's rows (type, id, resource): the resources that refer to `frontier`."""
    targets = [f"{t}/{i}" for t, ids in frontier.items() for i in ids]
    rows = await execute.resources(conn, include.referring(inc, targets, org_id, MAX_INCLUDED))
    return [(inc.source_type, i, text) for i, text in rows]
