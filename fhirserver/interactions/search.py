"""search-type (GET [type]?..., POST [type]/_search) and _explain.

The stages (parse, validate, plan, SQL, execute) are searchparams/pipeline.py's; this
module only routes the connection, turns rows into a searchset Bundle and writes the
links. Pages are keyset-paged: the `next` link carries the opaque cursor the pipeline
gives back, with the last row's sort keys.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.responses import Response

from fhirserver import bundles
from fhirserver.context import RequestContext
from fhirserver.headers import check_body_type
from fhirserver.interactions import guard, units
from fhirserver.outcomes import Category, FhirError
from fhirserver.projection import project
from fhirserver.responses import fhir, json_bytes
from fhirserver.spec import compartments
from fhirserver.validation import check_id
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from searchparams import ast, pipeline
from searchparams.catalog import supported

FORM = frozenset({"application/x-www-form-urlencoded"})


async def search_type(ctx: RequestContext, m: ResourceMapping, items: list[tuple[str, str]] | None = None, *,
                      base: str | None = None, extra: tuple[ast.Filter, ...] = ()) -> Response:
    items = list(ctx.params) if items is None else items
    request = pipeline.SearchRequest(m, ctx.org_id, tuple(items), strict=ctx.prefer.handling == "strict",
                                     base=ctx.base_url, extra=extra, policy=guard.policy(ctx, m.resource_type, "s"))
    search = pipeline.parse_request(request)
    ctx.effects.query = urlencode(items)
    query = pipeline.validate(request, search)
    if ctx.param("_explain") == "true":
        return await _explain(ctx, query)
    result = await units.read(ctx, lambda conn: pipeline.run(conn, query))
    url = base or f"{ctx.base_url}/{m.resource_type}"
    applied = list(search.applied)
    links = [{"relation": "self", "url": bundles.link(url, applied + ([("_cursor", search.cursor)]
                                                                       if search.cursor else []))}]
    for relation, token in (("next", result.page.next), ("previous", result.page.previous)):
        if token is not None:
            links.append({"relation": relation, "url": bundles.link(url, applied + [("_cursor", token)])})
    for id_, text in result.page.rows:
        ctx.effects.saw(m.resource_type, id_, text)
    for type_name, id_, text in result.included:
        ctx.effects.saw(type_name, id_, text)
    matches = [(id_, project(text, search.summary, search.elements)) for id_, text in result.page.rows]
    bundle = bundles.searchset(ctx.base_url, m.resource_type, matches, links, result.total, result.included)
    return fhir(json_bytes(bundle), media_type=ctx.media_type, pretty=ctx.pretty)


async def _explain(ctx: RequestContext, query: pipeline.Query) -> Response:
    """The parsed search, the compiler's plan, the SQL, its bound values and PostgreSQL's plan, as Parameters.

    Blaze's __explain shows its own index plan; this shows the real SQL and EXPLAIN output."""
    shown = await units.read(ctx, lambda conn: pipeline.explain(conn, query))
    body = {"resourceType": "Parameters", "parameter": [
        *({"name": "rewrite", "valueString": f"{name}: {search}"}
          for name, search in pipeline.rewrites(query.request)[1:]),
        {"name": "search", "valueString": str(query.search)},
        {"name": "compiler-plan", "valueString": shown.plan},
        {"name": "sql", "valueString": shown.sql},
        *({"name": "parameter", "valueString": f"${i + 1} = {v!r}"} for i, v in enumerate(shown.params)),
        {"name": "plan", "valueString": orjson.dumps(shown.postgres_plan, option=orjson.OPT_INDENT_2).decode()},
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
