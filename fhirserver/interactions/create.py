"""create (http.html#create), conditional create (If-None-Exist), and safe retries
(Idempotency-Key: a retry with the key of a create that happened gets that create's answer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import idempotency, resources
from fhirserver.headers import check_body_type
from fhirserver.interactions import conditional, guard
from fhirserver.interactions.drafts import check_targets, draft_from, parse_body
from fhirserver.interactions.replies import resource_reply, written_reply
from fhirserver.interactions.units import run, writing
from fhirserver.outcomes import Category, FhirError, invalid
from mappings.base import ResourceMapping


async def create(ctx: RequestContext, m: ResourceMapping) -> Response:
    check_body_type(ctx.headers.get("content-type"))
    draft, local = draft_from(parse_body(ctx), m, ctx)   # a body id is ignored, as R4 says
    header = ctx.headers.get("if-none-exist")
    criteria = conditional.header_criteria(header) if header is not None else None
    query = conditional.parse_criteria(m, criteria, "If-None-Exist", ctx.base_url) if criteria is not None else None
    key = _idempotency_key(ctx.headers.get("idempotency-key"))
    if draft.part_ts is not None:
        await ctx.services.partitions.ensure(ctx.services.db.primary.pool, m, ctx.org_id, draft.part_ts)

    async def attempt():
        async with writing(ctx) as conn:
            if key is not None and (earlier := await idempotency.claim(conn, ctx.org_id, key, m.resource_type)):
                return await _first_answer(conn, ctx, m, earlier)
            if query is not None:
                match = await conditional.single_match(conn, ctx, m, query,
                                                       lock_key=conditional.lock_key(criteria))
                if match is not None:
                    return await resources.read(conn, m, ctx.org_id, match)
            await check_targets(conn, ctx, local)
            saved = await resources.create(conn, m, ctx.org_id, draft, ctx.assigned_id)
            await guard.check_writable(conn, ctx, m, saved.id, "c", before=False)
            if key is not None:
                await idempotency.record(conn, ctx.org_id, key, saved.id)
            return saved

    result = await run(ctx, attempt)
    if isinstance(result, _Replay):
        return written_reply(ctx, m.resource_type, result.saved, replay=True)
    if isinstance(result, resources.Saved):
        return written_reply(ctx, m.resource_type, result)
    return resource_reply(ctx, m.resource_type, result)   # 200: the match, per If-None-Exist


_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _idempotency_key(header: str | None) -> str | None:
    if header is None:
        return None
    if not _KEY.fullmatch(header):
        raise invalid("Idempotency-Key must be 1 to 255 visible ASCII characters", "RES-IDEMPOTENCY-KEY")
    return header


@dataclass(frozen=True, slots=True)
class _Replay:
    saved: resources.Saved


async def _first_answer(conn, ctx: RequestContext, m: ResourceMapping, earlier: idempotency.Earlier) -> _Replay:
    """The answer the first request with this key got: 201 with the version it created."""
    if earlier.resource_type != m.resource_type:
        raise FhirError.of(Category.UNPROCESSABLE, "business-rule", "RES-IDEMPOTENCY-KEY-REUSED",
                           f"This Idempotency-Key was used to create a {earlier.resource_type} less than a "
                           "day ago; use a new key for a new resource")
    await guard.check_readable(ctx, m, earlier.id)
    first = await resources.vread(conn, m, ctx.org_id, earlier.id, 1)
    return _Replay(resources.Saved(earlier.id, 1, first.last_updated, first.resource, True))
