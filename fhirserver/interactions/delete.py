"""delete (http.html#delete) and conditional delete (single match).

A delete writes a new version (a delete marker) and the resource then reads as
410 Gone. Deleting something already deleted, or never created, changes nothing
and answers 204, as R4 allows. Resources still referenced by current resources
are not deleted (409), so no reference is left dangling.
"""

from __future__ import annotations

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.headers import etag, parse_etag
from fhirserver.interactions import conditional, guard
from fhirserver.interactions.units import run, writing
from fhirserver.outcomes import FhirError
from fhirserver.responses import fhir, info_bytes
from fhirserver.validation import check_id
from mappings.base import ResourceMapping


def _reply(ctx: RequestContext, m: ResourceMapping, id_: str | None, version: int | None) -> Response:
    if version is None:
        return fhir(None, 204, media_type=ctx.media_type)
    ctx.effects.wrote(m.resource_type, id_, version)
    headers = {"ETag": etag(version)}
    if ctx.prefer.return_ == "minimal":
        return fhir(None, 204, media_type=ctx.media_type, headers=headers)
    body = info_bytes(f"{m.resource_type}/{id_} deleted (version {version})", "RES-DELETED-OK")
    return fhir(body, 200, media_type=ctx.media_type, pretty=ctx.pretty, headers=headers)


async def _note_prior(conn, ctx: RequestContext, m: ResourceMapping, id_: str) -> None:
    """The version being deleted, for the audit trail (whose patients it names)."""
    try:
        prior = await resources.read(conn, m, ctx.org_id, id_)
    except FhirError:   # never created, or deleted already: nothing is touched
        return
    ctx.effects.saw(m.resource_type, id_, prior.resource)


async def delete(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    if_match = parse_etag(ctx.headers.get("if-match"))

    async def attempt():
        async with writing(ctx) as conn:
            await guard.check_writable(conn, ctx, m, id_, "d", before=True)
            await _note_prior(conn, ctx, m, id_)
            return await resources.delete(conn, m, ctx.org_id, id_, if_match)
    return _reply(ctx, m, id_, await run(ctx, attempt))


async def conditional_delete(ctx: RequestContext, m: ResourceMapping) -> Response:
    criteria = conditional.url_criteria(ctx)
    query = conditional.parse_criteria(m, criteria, "the URL", ctx.base_url)
    if_match = parse_etag(ctx.headers.get("if-match"))

    async def attempt():
        async with writing(ctx) as conn:
            match = await conditional.single_match(conn, ctx, m, query, lock_key=conditional.lock_key(criteria))
            if match is None:
                return None, None
            await guard.check_writable(conn, ctx, m, match, "d", before=True)
            await _note_prior(conn, ctx, m, match)
            return match, await resources.delete(conn, m, ctx.org_id, match, if_match)
    id_, version = await run(ctx, attempt)
    return _reply(ctx, m, id_, version)
