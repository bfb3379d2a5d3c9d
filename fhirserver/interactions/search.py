"""search-type (GET [type]?..., POST [type]/_search) and _explain.

The pipeline is parse -> compile -> execute (searchparams); this module only routes
the connection, turns rows into a searchset Bundle and writes the links. Pages are
keyset-paged: the `next` link carries an opaque cursor with the last row's sort keys.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.db.pools import Route
from fhirserver.db.tenancy import tenant_transaction
from fhirserver.headers import check_body_type
from fhirserver.outcomes import invalid
from fhirserver.responses import fhir, json_bytes
from fhirserver.spec import schema
from mappings.base import ResourceMapping
from searchparams import ast, execute
from searchparams.parse import parse

FORM = frozenset({"application/x-www-form-urlencoded"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _cursor(search: ast.Search) -> list | None:
    if search.cursor is None:
        return None
    value = bundles.decode_cursor(search.cursor)
    if not isinstance(value, list) or len(value) != len(search.sort) + 1 or not isinstance(value[-1], str):
        raise invalid("The paging cursor is not one this server issued", "PAGE-CURSOR")
    try:
        [execute.decode_key(k) for k in value]
    except ValueError:
        raise invalid("The paging cursor is not one this server issued", "PAGE-CURSOR") from None
    return value


def _project(text: str, search: ast.Search) -> object:
    """_elements and _summary=text/data: a subset of the resource, marked SUBSETTED."""
    if not search.elements and search.summary not in ("text", "data"):
        return orjson.Fragment(text)
    resource = orjson.loads(text)
    kind = resource["resourceType"]
    required = set(schema()["definitions"][kind].get("required", ()))
    if search.summary == "data":
        kept = {k: v for k, v in resource.items() if k != "text"}
    else:
        wanted = set(search.elements) if search.elements else {"text"}
        kept = {k: v for k, v in resource.items()
                if k in wanted or k in required or k in ("resourceType", "id", "meta")}
    meta = dict(kept.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept


async def search_type(ctx: RequestContext, m: ResourceMapping, items: list[tuple[str, str]] | None = None
                      ) -> Response:
    items = list(ctx.params) if items is None else items
    search = parse(m.resource_type, items, strict=ctx.prefer.handling == "strict")
    cursor = _cursor(search)
    if ctx.param("_explain") == "true":
        return await _explain(ctx, m, search, cursor)
    async with tenant_transaction(ctx.services.db, Route.READ, ctx.org_id, readonly=True) as conn:
        total = None
        if search.summary == "count" or search.total == "accurate":
            total = await execute.count(conn, m, search, ctx.org_id)
        elif search.total == "estimate":
            total = await execute.estimate(conn, m, search, ctx.org_id)
        rows, after = ([], None) if search.summary == "count" else await execute.page(conn, m, search, ctx.org_id,
                                                                                      cursor)
        included = await execute.includes(conn, search, rows, ctx.org_id) if search.includes and rows else []
    url = f"{ctx.base_url}/{m.resource_type}"
    applied = list(search.applied)
    links = [{"relation": "self", "url": bundles.link(url, applied + ([("_cursor", search.cursor)]
                                                                       if search.cursor else []))}]
    if after is not None:
        links.append({"relation": "next",
                      "url": bundles.link(url, applied + [("_cursor", bundles.encode_cursor(after))])})
    matches = [(id_, _project(text, search)) for id_, text in rows]
    bundle = bundles.searchset(ctx.base_url, m.resource_type, matches, links, total, included)
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def _explain(ctx: RequestContext, m: ResourceMapping, search: ast.Search, cursor: list | None) -> Response:
    """The SQL this search compiles to, its bound values and PostgreSQL's plan, as Parameters.

    Blaze's __explain shows its own index plan; this shows the real SQL and EXPLAIN output."""
    async with tenant_transaction(ctx.services.db, Route.READ, ctx.org_id, readonly=True) as conn:
        sql, params, plan = await execute.explain(conn, m, search, ctx.org_id, cursor)
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "search", "valueString": str(search)},
        {"name": "sql", "valueString": sql},
        *({"name": "parameter", "valueString": f"${i + 1} = {v!r}"} for i, v in enumerate(params)),
        {"name": "plan", "valueString": orjson.dumps(plan, option=orjson.OPT_INDENT_2).decode()},
    ]}
    return fhir(json_bytes(body), media_type=ctx.media_type, pretty=ctx.pretty)


async def search_post(ctx: RequestContext, m: ResourceMapping) -> Response:
    """POST [type]/_search: parameters in a form body, merged with those of the URL."""
    check_body_type(ctx.headers.get("content-type"), FORM)
    form = parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True)
    return await search_type(ctx, m, list(ctx.params) + form)
