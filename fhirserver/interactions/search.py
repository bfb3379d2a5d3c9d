"""search-type (GET [type]?..., POST [type]/_search): the first slice of the search issue.

Parameters bound to a mapping's columns are supported (see mappings/bindings.py);
the rest are unsupported: 400 with Prefer: handling=strict, dropped otherwise, and
the self link shows only what was applied. Pages are keyset-paged by id.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.db.pools import Route
from fhirserver.db.tenancy import tenant_transaction
from fhirserver.headers import check_body_type
from fhirserver.outcomes import invalid
from fhirserver.responses import fhir, json_bytes
from mappings.base import ResourceMapping
from searchparams import execute
from searchparams.parse import parse

FORM = frozenset({"application/x-www-form-urlencoded"})


async def search_type(ctx: RequestContext, m: ResourceMapping, items: list[tuple[str, str]] | None = None
                      ) -> Response:
    items = list(ctx.params) if items is None else items
    search = parse(m.resource_type, items, strict=ctx.prefer.handling == "strict")
    cursor = search.after_id
    if cursor is not None:
        after = bundles.decode_cursor(cursor)
        if not isinstance(after, str):
            raise invalid("The paging cursor is not one this server issued", "PAGE-CURSOR")
        search = replace(search, after_id=after)
    url = f"{ctx.base_url}/{m.resource_type}"
    async with tenant_transaction(ctx.services.db, Route.READ, ctx.org_id, readonly=True) as conn:
        total = None
        if search.summary_count or search.total == "accurate":
            total = await execute.count(conn, m, search, ctx.org_id)
        rows, more = ([], False) if search.summary_count else await execute.page(conn, m, search, ctx.org_id)
    links = [{"relation": "self", "url": bundles.link(url, list(search.applied) +
                                                      ([("_cursor", cursor)] if cursor else []))}]
    if more:
        token = bundles.encode_cursor(rows[-1][0])
        links.append({"relation": "next", "url": bundles.link(url, list(search.applied) + [("_cursor", token)])})
    bundle = bundles.searchset(ctx.base_url, m.resource_type, rows, links, total)
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def search_post(ctx: RequestContext, m: ResourceMapping) -> Response:
    """POST [type]/_search: parameters in a form body, merged with those of the URL."""
    check_body_type(ctx.headers.get("content-type"), FORM)
    form = parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True)
    return await search_type(ctx, m, list(ctx.params) + form)
