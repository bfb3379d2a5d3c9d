"""The search behind conditional create, update and delete.

Criteria are parsed strictly: ignoring a criterion the server does not support
would widen the match, and a conditional delete or update must never do that.
Identical criteria are serialised by a transaction advisory lock, so two
concurrent conditional creates of the same thing make one resource, not two.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import asyncpg

from fhirserver.context import RequestContext
from fhirserver.interactions import guard
from fhirserver.outcomes import Category, FhirError, invalid
from mappings.base import ResourceMapping
from searchparams import ast, pipeline
from searchparams.parse import parse

_NOT_CRITERIA = {"_format", "_pretty"}


def url_criteria(ctx: RequestContext) -> list[tuple[str, str]]:
    """The search criteria of a conditional URL (PUT/DELETE [type]?criteria)."""
    return [(k, v) for k, v in ctx.params if k not in _NOT_CRITERIA]


def header_criteria(value: str) -> list[tuple[str, str]]:
    """The criteria of an If-None-Exist header: a query string, with or without '?'."""
    return [(k, v) for k, v in parse_qsl(value.lstrip("?"), keep_blank_values=True) if k not in _NOT_CRITERIA]


def lock_key(items: list[tuple[str, str]]) -> str:
    return urlencode(sorted(items))


def parse_criteria(m: ResourceMapping, items: list[tuple[str, str]], where: str, base: str = "") -> ast.Search:
    if not items:
        raise invalid(f"Conditional interaction without search criteria in {where}", "COND-NO-CRITERIA")
    search = parse(m.resource_type, items, strict=True, base=base)
    if not search.clauses:
        raise invalid(f"No usable search criteria in {where}", "COND-NO-CRITERIA")
    return search


async def single_match(conn: asyncpg.Connection, ctx: RequestContext, m: ResourceMapping,
                       search: ast.Search, lock_key: str | None = None) -> str | None:
    """The id of the one match, None for no match; 412 when the criteria match several."""
    if lock_key is not None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                           f"{m.resource_type}?{lock_key}", ctx.org_id)
    # confined by the caller's policy: a match the caller cannot see is no match
    request = pipeline.SearchRequest(m, ctx.org_id, search=search, policy=guard.policy(ctx, m.resource_type, "s"))
    ids = await pipeline.matching_ids(conn, request, 2)
    if len(ids) > 1:
        raise FhirError.of(Category.PRECONDITION, "multiple-matches", "COND-MULTIPLE",
                           f"The criteria match more than one {m.resource_type}; make them more selective")
    return ids[0] if ids else None
