"""From a request body to a storable `Draft`, and the reference checks of the write path."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.db.resources import Draft, Lock
from fhirserver.fhirtime import instant_text
from fhirserver.outcomes import Category, FhirError, Issue, invalid
from fhirserver.references import Local, local_references
from fhirserver.validation import Body, check_id, parse_json, stored_document, validate
from mappings import MAPPINGS
from mappings.base import ResourceMapping
from mappings.rows import build_row


def _renderer(exact: dict):
    def render(id_: str, version: int, ts: datetime) -> str:
        return orjson.dumps(stored_document(exact, id_, str(version), instant_text(ts))).decode()
    return render


def draft_from(body: Body, m: ResourceMapping, ctx: RequestContext, *, url_id: str | None = None,
               ) -> tuple[Draft, list[tuple[str, Local]]]:
    """Validate a parsed body for `m` and prepare it for storage.

    `url_id` is the id of an update URL: R4 requires the body to carry the same id.
    Returns the draft and the local references it makes (checked inside the write transaction).
    """
    found = validate(body.value, m.resource_type)
    resource = body.value
    if url_id is not None:
        check_id(url_id, m.resource_type + ".id")
        if resource.get("id") != url_id:
            raise invalid(f"The body's id ({resource.get('id')!r}) must equal the id in the URL ({url_id!r})",
                          "RES-ID-MISMATCH", (f"{m.resource_type}.id",))
    contained = {c.get("id") for c in resource.get("contained", ()) if isinstance(c, dict)}
    local = local_references(found.references, contained, ctx.base_url)
    row = build_row(m, resource, ctx.base_url, resources.now(), [(t.type, t.id) for _, t in local])
    draft = Draft(columns=row.columns, part_ts=row.part_ts, clinical=row.clinical,
                  refs=([t for t, _ in row.refs], [i for _, i in row.refs]), render=_renderer(body.exact),
                  side=row.side_arrays(m.resource_type))
    return draft, local


def parse_body(ctx: RequestContext) -> Body:
    if not ctx.body.strip():
        raise invalid("The request has no body; a resource is required", "RES-BODY-EMPTY", code="required")
    return parse_json(ctx.body)


async def check_targets(conn: asyncpg.Connection, ctx: RequestContext,
                        local: list[tuple[str, Local]]) -> None:
    """Referential integrity: every local reference to a type we store must exist in this
    tenant. The target row is KEY SHARE locked, so it cannot be deleted before we commit."""
    if not ctx.services.settings.referential_integrity:
        return
    if ctx.unit is not None:   # a transaction Bundle checks them all once its entries are written
        ctx.unit.deferred.extend(local)
        return
    await verify_targets(conn, ctx.org_id, local)


async def verify_targets(conn: asyncpg.Connection, org_id: int, local: list[tuple[str, Local]],
                         lock: Lock = Lock.KEY_SHARE) -> None:
    """`lock`: KEY SHARE where a write follows; none for $validate (it writes nothing, and may
    run on a replica)."""
    issues, seen = [], set()
    for where, target in local:
        m = MAPPINGS.get(target.type)
        if m is None or (target.type, target.id) in seen:
            continue
        seen.add((target.type, target.id))
        if await resources.locate(conn, m, org_id, target.id, lock) is None:
            issues.append(Issue("not-found", f"Reference {target.type}/{target.id} does not resolve: no such "
                                "resource in this organisation", "RES-REF-NOT-FOUND", (where,)))
    if issues:
        raise FhirError(Category.UNPROCESSABLE, issues)
