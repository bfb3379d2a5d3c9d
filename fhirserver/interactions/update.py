"""update (http.html#update), update-as-create, and conditional update (PUT [type]?search)."""

from __future__ import annotations

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.headers import check_body_type, parse_etag
from fhirserver.interactions import conditional, guard
from fhirserver.interactions.drafts import check_targets, draft_from, parse_body
from fhirserver.interactions.replies import written_reply
from fhirserver.interactions.units import run, writing
from fhirserver.outcomes import invalid
from fhirserver.validation import Body, check_id
from mappings.base import ResourceMapping


async def update(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_body_type(ctx.headers.get("content-type"))
    saved = await store_version(ctx, m, id_, parse_body(ctx), parse_etag(ctx.headers.get("if-match")))
    return written_reply(ctx, m.resource_type, saved)


async def store_version(ctx: RequestContext, m: ResourceMapping, id_: str, body: Body,
                        if_match: int | None, verb: bytes = resources.Verb.UPDATE) -> resources.Saved:
    """Validate `body` as the next version of `id_` and store it (shared with patch)."""
    draft, local = draft_from(body, m, ctx, url_id=id_)
    if draft.part_ts is not None:
        await ctx.services.partitions.ensure(ctx.services.db.primary.pool, m, ctx.org_id, draft.part_ts)

    async def attempt():
        async with writing(ctx) as conn:
            await check_targets(conn, ctx, local)
            await guard.check_writable(conn, ctx, m, id_, "u", before=True)
            saved = await resources.update(conn, m, ctx.org_id, id_, draft, if_match, verb)
            await guard.check_writable(conn, ctx, m, id_, "c" if saved.created else "u", before=False)
            return saved
    return await run(ctx, attempt)


async def conditional_update(ctx: RequestContext, m: ResourceMapping) -> Response:
    """No match: create (under the body's id if it has one); one match: update it; several: 412.
    The search and the write share one transaction, and identical criteria are serialised."""
    check_body_type(ctx.headers.get("content-type"))
    criteria = conditional.url_criteria(ctx)
    query = conditional.parse_criteria(m, criteria, "the URL", ctx.base_url)
    body = parse_body(ctx)
    draft, local = draft_from(body, m, ctx)
    body_id = body.value.get("id")
    if body_id is not None:
        check_id(body_id, f"{m.resource_type}.id")
    if_match = parse_etag(ctx.headers.get("if-match"))
    if draft.part_ts is not None:
        await ctx.services.partitions.ensure(ctx.services.db.primary.pool, m, ctx.org_id, draft.part_ts)

    async def attempt():
        async with writing(ctx) as conn:
            match = await conditional.single_match(conn, ctx, m, query, lock_key=conditional.lock_key(criteria))
            if match is not None and body_id is not None and body_id != match:
                raise invalid(f"The body's id {body_id!r} is not the id of the matching resource ({match})",
                              "RES-ID-MISMATCH", (f"{m.resource_type}.id",))
            await check_targets(conn, ctx, local)
            target = match or body_id
            if target is None:
                saved = await resources.create(conn, m, ctx.org_id, draft, ctx.assigned_id)
            else:
                await guard.check_writable(conn, ctx, m, target, "u", before=True)
                saved = await resources.update(conn, m, ctx.org_id, target, draft, if_match)
            await guard.check_writable(conn, ctx, m, saved.id, "c" if saved.created else "u", before=False)
            return saved

    saved = await run(ctx, attempt)
    return written_reply(ctx, m.resource_type, saved)
