"""Responses shared by several interactions."""

from __future__ import annotations

from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db.resources import Saved, Stored
from fhirserver.responses import fhir, info_bytes, version_headers


def resource_reply(ctx: RequestContext, resource_type: str, stored: Stored) -> Response:
    headers = version_headers(stored.version_id, stored.last_updated)
    headers["Content-Location"] = f"{ctx.base_url}/{resource_type}/{stored.id}/_history/{stored.version_id}"
    return fhir(stored.resource.encode(), media_type=ctx.media_type, pretty=ctx.pretty, headers=headers)


def written_reply(ctx: RequestContext, resource_type: str, saved: Saved, status: int | None = None,
                  replay: bool = False) -> Response:
    """201/200 with ETag, Last-Modified and Location; the body as Prefer: return= asks.
    `replay`: the answer of an earlier request (Idempotency-Key), nothing written now."""
    status = status or (201 if saved.created else 200)
    if not replay:
        ctx.effects.wrote(resource_type, saved.id, saved.version_id)
    ctx.effects.saw(resource_type, saved.id, saved.resource)   # the audit names its patients
    headers = version_headers(saved.version_id, saved.last_updated)
    location = f"{ctx.base_url}/{resource_type}/{saved.id}/_history/{saved.version_id}"
    headers["Location" if status == 201 else "Content-Location"] = location
    if ctx.prefer.return_ == "minimal":
        return fhir(None, status, media_type=ctx.media_type, headers=headers)
    if ctx.prefer.return_ == "OperationOutcome":
        verb = "created" if status == 201 else "stored"
        body = info_bytes(f"{resource_type}/{saved.id} {verb} as version {saved.version_id}", "RES-STORED")
        return fhir(body, status, media_type=ctx.media_type, pretty=ctx.pretty, headers=headers)
    return fhir(saved.resource.encode(), status, media_type=ctx.media_type, pretty=ctx.pretty, headers=headers)
