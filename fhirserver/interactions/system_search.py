"""search-system (GET [base]?_type=A,B&..., POST [base]/_search; search.html#searchall).

Each listed type (every type the caller may search, without `_type`; of the 135 on the shared
tables only those the tenant holds resources of) runs the same search through the type-level
pipeline, and the page takes them one after another: a type's
matches in its own order, then the next type's. The cursor names the type a page starts in
and that type's own cursor, so paging loses and repeats nothing. A filter must be a
parameter of every listed type (search.html#searchall): ignoring it for the types that lack
it would widen the answer, so it is refused (strict) or dropped for all of them (lenient).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.headers import check_body_type
from fhirserver.interactions import guard, units
from fhirserver.interactions.search import FORM
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.projection import project
from fhirserver.responses import fhir, json_bytes
from mappings import MAPPINGS
from searchparams import ast, pipeline
from searchparams.cursor import decode_token, encode_token
from searchparams.kinds.base import Refused
from searchparams.parse import DEFAULT_COUNT, FILTER_PREFIXES, MAX_COUNT, parse_filter

# What the type-level searches take as they are; _type, _count and _cursor are the system's.
_RESULT = ("_include", "_revinclude", "_summary", "_elements", "_total", "_format", "_pretty")


def _is_result(key: str) -> bool:
    return key.split(":", 1)[0] in _RESULT or key in ("_explain",)


def _types(ctx: RequestContext, items: list[tuple[str, str]]) -> list[str]:
    listed = [t.strip() for key, value in items if key == "_type" for t in value.split(",") if t.strip()]
    if not listed:
        types = [t for t in sorted(MAPPINGS) if ctx.access is None or ctx.access.allows(t, "s")]
        if not types:
            raise FhirError.of(Category.FORBIDDEN, "forbidden", "AUTH-SCOPE", "The token's scopes allow no search")
        return types
    unknown = [t for t in listed if t not in MAPPINGS]
    if unknown:
        raise FhirError.of(Category.INCORRECT, "not-supported", "SP-TYPE",
                           f"_type names types this server does not store: {', '.join(unknown)}")
    for t in listed:
        if ctx.access is not None:
            ctx.access.require(t, "s")
    return list(dict.fromkeys(listed))


def _common(ctx: RequestContext, types: list[str], items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The filters every type has; the others refused (strict) or dropped (lenient)."""
    kept, issues = [], []
    for key, value in items:
        if key.startswith("_") and not key.startswith(FILTER_PREFIXES) and not _is_result(key):
            issues.append(Issue("not-supported", f"'{key}' is not supported in a search across types", "SP-UNKNOWN"))
            continue
        lacking = [t for t in types if not _is_result(key) and value and not _parses(t, key, value, ctx.base_url)]
        if lacking:
            issues.append(Issue("not-supported", f"'{key}' is not a search parameter of {', '.join(lacking)}; "
                                "a search across types takes only parameters they all have", "SP-UNKNOWN"))
            continue
        kept.append((key, value))
    if issues and ctx.prefer.handling == "strict":
        raise FhirError(Category.INCORRECT, issues)
    return kept


def _parses(type_name: str, key: str, value: str, base: str) -> bool:
    try:
        parse_filter(type_name, key, value, base)
    except Refused:
        return False
    except ValueError:
        return True   # a bad value: the type's own parse says so, with a 400
    return True


def _count(items: list[tuple[str, str]]) -> int:
    raw = [v for k, v in items if k == "_count"]
    if raw and not raw[-1].isdigit():
        raise FhirError.of(Category.INCORRECT, "invalid", "SP-BAD-VALUE", "_count must be a non-negative integer")
    return min(int(raw[-1]), MAX_COUNT) if raw else DEFAULT_COUNT


def cursor_type(cursor: str | None) -> str | None:
    """The type a page cursor of a search across types continues in."""
    value = decode_token(cursor) if cursor else None
    return value[0] if isinstance(value, list) and value and isinstance(value[0], str) else None


def _position(types: list[str], cursor: str | None) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    value = decode_token(cursor)
    if not (isinstance(value, list) and len(value) == 2 and value[0] in types
            and (value[1] is None or isinstance(value[1], str))):
        raise FhirError.of(Category.INCORRECT, "invalid", "PAGE-CURSOR",
                           "The page cursor is not one this search issued")
    return types.index(value[0]), value[1]


@dataclass(frozen=True)
class Part:
    """One type's share of a search across types: its items (no _count, no _cursor) and the
    filters no request can remove (a compartment's membership)."""

    type_name: str
    items: tuple[tuple[str, str], ...]
    extra: tuple[ast.Filter, ...] = ()


def _query(ctx: RequestContext, part: Part, items: list[tuple[str, str]]) -> pipeline.Query:
    m = MAPPINGS[part.type_name]
    request = pipeline.SearchRequest(m, ctx.org_id, tuple(items), strict=ctx.prefer.handling == "strict",
                                     base=ctx.base_url, extra=part.extra, policy=guard.policy(ctx, part.type_name, "s"))
    return pipeline.validate(request, pipeline.parse_request(request))


async def total_across(ctx: RequestContext, parts: list[Part]) -> int:
    counting = [[(k, v) for k, v in p.items if k not in ("_summary", "_total")] + [("_summary", "count")]
                for p in parts]
    queries = [_query(ctx, p, items) for p, items in zip(parts, counting)]

    async def count(conn) -> int:
        return sum([(await pipeline.run(conn, q)).total or 0 for q in queries])
    return await units.read(ctx, count)


async def page_across(ctx: RequestContext, parts: list[Part], count: int, cursor: str | None
                      ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list | None]:
    """(type, id, JSON) of a page's matches, what they include, and the next page's position:
    each part's matches in its own order, then the next part's, all on one connection (reads
    run in autocommit: each statement sees its own snapshot, as before)."""
    names = [p.type_name for p in parts]
    start, inner = _position(names, cursor)

    async def page(conn):
        rows, included = [], []
        for i in range(start, len(parts)):
            items = [(k, v) for k, v in parts[i].items if k != "_total"] + [("_count", str(count - len(rows)))]
            if i == start and inner is not None:
                items.append(("_cursor", inner))
            result = await pipeline.run(conn, _query(ctx, parts[i], items))
            rows += [(names[i], id_, text) for id_, text in result.page.rows]
            included += result.included
            if result.page.next is not None:
                return rows, included, [names[i], result.page.next]
            if len(rows) >= count:
                return rows, included, ([names[i + 1], None] if i + 1 < len(parts) else None)
        return rows, included, None
    return await units.read(ctx, page)


async def search_system(ctx: RequestContext, items: list[tuple[str, str]] | None = None) -> Response:
    items = list(ctx.params) if items is None else items
    types = _types(ctx, items)
    cursor = next((v for k, v in items if k == "_cursor"), None)
    if not any(k == "_type" for k, _ in items):   # every type: of the generic ones, those the tenant holds
        held = await units.read(ctx, lambda conn: resources.generic_types_held(conn, ctx.org_id))
        kept_type = cursor_type(cursor)
        types = [t for t in types if not MAPPINGS[t].storage or t in held or t == kept_type]
    kept = _common(ctx, types, [(k, v) for k, v in items if k not in ("_type", "_count", "_cursor")])
    ctx.effects.query = urlencode(items)
    parts = [Part(t, tuple(kept)) for t in types]
    applied = [("_type", ",".join(types))] + kept
    return await answer(ctx, parts, applied, _count(items), cursor, ctx.base_url)


async def answer(ctx: RequestContext, parts: list[Part], applied: list[tuple[str, str]], count: int,
                 cursor: str | None, url: str) -> Response:
    """The searchset of a search across `parts`: a page, what it includes, the total if asked."""
    kept = dict(parts[0].items) if parts else {}
    summary = kept.get("_summary")
    total = None
    if count == 0 or summary == "count" or kept.get("_total", "none") != "none":
        total = await total_across(ctx, parts)
    rows, included, nxt = [], [], None
    if count > 0 and summary != "count":
        rows, included, nxt = await page_across(ctx, parts, count, cursor)
    elements = tuple(e.strip() for e in kept.get("_elements", "").split(",") if e.strip())
    return searchset(ctx, Page(rows, included, nxt, total), applied, count, cursor, url, summary, elements)


@dataclass(frozen=True)
class Page:
    rows: list[tuple[str, str, str]]        # (type, id, JSON) of the matches
    included: list[tuple[str, str, str]]    # what they include (matches and repeats are dropped)
    next: list | None                       # the next page's position (encoded as its _cursor)
    total: int | None


def searchset(ctx: RequestContext, page: Page, applied: list[tuple[str, str]], count: int, cursor: str | None,
              url: str, summary: str | None = None, elements: tuple[str, ...] = ()) -> Response:
    """The searchset Bundle of a page across types; every resource in it is noted as seen."""
    applied = applied + [("_count", str(count))]
    links = [{"relation": "self", "url": bundles.link(url, applied + ([("_cursor", cursor)] if cursor else []))}]
    if page.next is not None:
        links.append({"relation": "next", "url": bundles.link(url, applied + [("_cursor", encode_token(page.next))])})
    for type_name, id_, text in page.rows:
        ctx.effects.saw(type_name, id_, text)
    seen, extra = {(t, i) for t, i, _ in page.rows}, []
    for type_name, id_, text in page.included:
        if (type_name, id_) not in seen:
            seen.add((type_name, id_))
            extra.append((type_name, id_, text))
            ctx.effects.saw(type_name, id_, text)
    matches = [(t, i, project(text, summary, elements)) for t, i, text in page.rows]
    bundle = bundles.typed_searchset(ctx.base_url, matches, links, page.total, extra)
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def search_system_post(ctx: RequestContext) -> Response:
    """POST [base]/_search: parameters in a form body, merged with those of the URL."""
    check_body_type(ctx.headers.get("content-type"), FORM)
    form = parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True)
    return await search_system(ctx, list(ctx.params) + form)
