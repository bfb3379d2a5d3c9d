"""search-type (GET [type]?..., POST [type]/_search) and _explain.

The pipeline is parse -> compile -> execute (searchparams); this module only routes
the connection, turns rows into a searchset Bundle and writes the links. Pages are
keyset-paged: the `next` link carries an opaque cursor with the last row's sort keys.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.headers import check_body_type
from fhirserver.interactions import guard, units
from fhirserver.outcomes import Category, FhirError, invalid
from fhirserver.projection import project
from fhirserver.responses import fhir, json_bytes
from fhirserver.spec import compartments
from fhirserver.validation import check_id
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast, execute
from searchparams.catalog import supported
from searchparams.confine import confine
from searchparams.parse import parse
from searchparams.sqlgen.select import cursor_valid

FORM = frozenset({"application/x-www-form-urlencoded"})


def _cursor(m: ResourceMapping, search: ast.Search) -> tuple[list | None, bool]:
    """The page cursor's key values, and whether it asks for the page before them."""
    if search.cursor is None:
        return None, False
    value = bundles.decode_cursor(search.cursor)
    backward = isinstance(value, dict) and set(value) == {"before"}
    if backward:
        value = value["before"]
    try:
        if isinstance(value, list) and cursor_valid(m, search, [execute.decode_key(k) for k in value]):
            return value, backward
    except ValueError:
        pass
    raise invalid("The paging cursor is not one this server issued", "PAGE-CURSOR")


async def search_type(ctx: RequestContext, m: ResourceMapping, items: list[tuple[str, str]] | None = None, *,
                      base: str | None = None, extra: tuple[ast.Filter, ...] = ()) -> Response:
    items = list(ctx.params) if items is None else items
    search = parse(m.resource_type, items, strict=ctx.prefer.handling == "strict", base=ctx.base_url)
    if extra:
        search = replace(search, filters=search.filters + extra)
    confined = guard.policy(ctx, m.resource_type, "s")
    if confined is not None:
        search = confine(search, confined)
    ctx.effects.query = urlencode(items)
    cursor, backward = _cursor(m, search)
    if ctx.param("_explain") == "true":
        return await _explain(ctx, m, search, cursor, backward)

    async def run(conn):
        total = None
        if search.summary == "count" or search.total == "accurate":
            total = await execute.count(conn, m, search, ctx.org_id)
        elif search.total == "estimate":
            total = await execute.estimate(conn, m, search, ctx.org_id)
        rows, after, before = ([], None, None) if search.summary == "count" else \
            await execute.page(conn, m, search, ctx.org_id, cursor, backward)
        included = await execute.includes(conn, search, rows, ctx.org_id, confined) \
            if search.includes and rows else []
        return total, rows, after, before, included
    total, rows, after, before, included = await units.read(ctx, run)
    url = base or f"{ctx.base_url}/{m.resource_type}"
    applied = list(search.applied)
    links = [{"relation": "self", "url": bundles.link(url, applied + ([("_cursor", search.cursor)]
                                                                       if search.cursor else []))}]
    if after is not None:
        links.append({"relation": "next",
                      "url": bundles.link(url, applied + [("_cursor", bundles.encode_cursor(after))])})
    if before is not None:
        links.append({"relation": "previous",
                      "url": bundles.link(url, applied + [("_cursor", bundles.encode_cursor({"before": before}))])})
    for id_, text in rows:
        ctx.effects.saw(m.resource_type, id_, text)
    for type_name, id_, text in included:
        ctx.effects.saw(type_name, id_, text)
    matches = [(id_, project(text, search.summary, search.elements)) for id_, text in rows]
    bundle = bundles.searchset(ctx.base_url, m.resource_type, matches, links, total, included)
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def _explain(ctx: RequestContext, m: ResourceMapping, search: ast.Search, cursor: list | None,
                   backward: bool) -> Response:
    """The parsed search, the compiler's plan, the SQL, its bound values and PostgreSQL's plan, as Parameters.

    Blaze's __explain shows its own index plan; this shows the real SQL and EXPLAIN output."""
    compiled, sql, params, plan = await units.read(
        ctx, lambda conn: execute.explain(conn, m, search, ctx.org_id, cursor, backward))
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "search", "valueString": str(search)},
        {"name": "compiler-plan", "valueString": compiled},
        {"name": "sql", "valueString": sql},
        *({"name": "parameter", "valueString": f"${i + 1} = {v!r}"} for i, v in enumerate(params)),
        {"name": "plan", "valueString": orjson.dumps(plan, option=orjson.OPT_INDENT_2).decode()},
    ]}
    return fhir(json_bytes(body), media_type=ctx.media_type, pretty=ctx.pretty)


async def search_compartment(ctx: RequestContext, compartment: ResourceMapping, id_: str, type_name: str
                             ) -> Response:
    """GET [base]/Patient/{id}/Observation?...: the type's search within the compartment, i.e. also
    matching any of the R4 CompartmentDefinition's parameters that point at the compartment owner."""
    check_id(id_, f"{compartment.resource_type}.id")
    m = MAPPINGS.get(type_name)
    params = compartments().get(compartment.resource_type, {}).get(type_name)
    if m is None or not params:
        raise FhirError.of(Category.NOT_FOUND, "not-supported", "SP-COMPARTMENT",
                           f"{type_name} is not in the {compartment.resource_type} compartment of this server")
    owner = f"{compartment.resource_type}/{id_}"
    membership = ast.AnyOf(tuple(ast.Clause(p, None, (ast.Reference((owner,)),)) for p in params
                                 if p in supported(type_name)))
    return await search_type(ctx, m, base=f"{ctx.base_url}/{owner}/{type_name}", extra=(membership,))


async def search_post(ctx: RequestContext, m: ResourceMapping) -> Response:
    """POST [type]/_search: parameters in a form body, merged with those of the URL."""
    check_body_type(ctx.headers.get("content-type"), FORM)
    form = parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True)
    return await search_type(ctx, m, list(ctx.params) + form)
