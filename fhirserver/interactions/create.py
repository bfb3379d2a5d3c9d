"""create (http.html#create) and conditional create (If-None-Exist)."""

from __future__ import annotations

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.headers import check_body_type
from fhirserver.interactions import conditional, guard
from fhirserver.interactions.drafts import check_targets, draft_from, parse_body
from fhirserver.interactions.replies import resource_reply, written_reply
from fhirserver.interactions.units import run, writing
from mappings.base import ResourceMapping


async def create(ctx: RequestContext, m: ResourceMapping) -> Response:
    check_body_type(ctx.headers.get("content-type"))
    draft, local = draft_from(parse_body(ctx), m, ctx)   # a body id is ignored, as R4 says
    header = ctx.headers.get("if-none-exist")
    criteria = conditional.header_criteria(header) if header is not None else None
    query = conditional.parse_criteria(m, criteria, "If-None-Exist", ctx.base_url) if criteria is not None else None
    if draft.part_ts is not None:
        await ctx.services.partitions.ensure(ctx.services.db.primary.pool, m, ctx.org_id, draft.part_ts)

    async def attempt():
        async with writing(ctx) as conn:
            if query is not None:
                match = await conditional.single_match(conn, ctx, m, query,
                                                       lock_key=conditional.lock_key(criteria))
                if match is not None:
                    return await resources.read(conn, m, ctx.org_id, match)
            await check_targets(conn, ctx, local)
            saved = await resources.create(conn, m, ctx.org_id, draft, ctx.assigned_id)
            await guard.check_writable(conn, ctx, m, saved.id, "c", before=False)
            return saved

    result = await run(ctx, attempt)
    if isinstance(result, resources.Saved):
        return written_reply(ctx, m.resource_type, result)
    return resource_reply(ctx, m.resource_type, result)   # 200: the match, per If-None-Exist
