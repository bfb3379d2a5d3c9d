"""patch with JSON Patch (http.html#patch, RFC 6902) or JSON Merge Patch (RFC 7386).

Merge patch is what clients such as fhirpy and Aidbox's send: `application/merge-patch+json`,
or a partial resource as `application/json`; a JSON array sent as `application/json` (or
with no type) is a JSON Patch. FHIRPath Patch (a Parameters body) is not supported.

The patched resource goes through exactly the validation and storage of an
update. A patch that cannot apply, or whose result is not a valid resource, is
422 (the request was understood but cannot be processed); a malformed patch
document is 400. Without If-Match the patch is applied to the version it read,
and re-applied if another writer got there first.
"""

from __future__ import annotations

from typing import Callable

import jsonpatch
from starlette.responses import Response

from fhirserver.context import RequestContext
from fhirserver.db import resources
from fhirserver.db.pools import Route
from fhirserver.headers import check_body_type, parse_etag
from fhirserver.interactions import guard, units
from fhirserver.interactions.replies import written_reply
from fhirserver.interactions.update import store_version
from fhirserver.outcomes import Category, FhirError, invalid
from fhirserver.validation import check_id, dumps_exact, loads_exact, parse_json
from mappings.base import ResourceMapping

JSON_PATCH, MERGE_PATCH = "application/json-patch+json", "application/merge-patch+json"
PATCH_TYPES = frozenset({JSON_PATCH, MERGE_PATCH, "application/json"})
_RETRIES = 3
Patcher = Callable[[dict], object]


def merge(target: object, patch: object) -> object:
    """RFC 7386 section 2: objects merge member by member, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _patcher(media_type: str | None, body: bytes) -> Patcher:
    """The patch the body describes; 400 if it is not one."""
    parse_json(body)   # 400 with the parser's position for malformed JSON
    document = loads_exact(body)   # every number keeps its text through the patch
    if media_type == MERGE_PATCH or (media_type != JSON_PATCH and isinstance(document, dict)):
        if not isinstance(document, dict):
            raise invalid("A merge patch is a JSON object", "PATCH-INVALID")
        return lambda doc: merge(doc, document)
    try:
        if not isinstance(document, list):
            raise jsonpatch.InvalidJsonPatch("a JSON Patch is an array of operations")
        return jsonpatch.JsonPatch(document).apply
    except (jsonpatch.InvalidJsonPatch, TypeError, AttributeError) as exc:
        raise invalid(f"Not a valid JSON Patch document: {exc}", "PATCH-INVALID") from None


def _apply(stored: str, patch: Patcher, m: ResourceMapping, id_: str) -> bytes:
    doc = loads_exact(stored)  # every number keeps its text through the patch
    try:
        result = patch(doc)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise FhirError.of(Category.UNPROCESSABLE, "processing", "PATCH-FAILED",
                           f"The patch cannot be applied to {m.resource_type}/{id_}: {exc}") from None
    if not isinstance(result, dict) or result.get("resourceType") != m.resource_type or result.get("id") != id_:
        raise FhirError.of(Category.UNPROCESSABLE, "processing", "PATCH-IDENTITY",
                           "A patch must not change the resource's type or id")
    return dumps_exact(result)


async def patch(ctx: RequestContext, m: ResourceMapping, id_: str) -> Response:
    check_id(id_, f"{m.resource_type}.id")
    media_type = check_body_type(ctx.headers.get("content-type"), PATCH_TYPES)
    await guard.check_readable(ctx, m, id_)
    patch_doc = _patcher(media_type, ctx.body)
    wanted = parse_etag(ctx.headers.get("if-match"))
    for attempt in range(_RETRIES):
        # From the primary: the version a patch replaces must be the newest, or If-Match fails.
        current = await units.read(ctx, lambda conn: resources.read(conn, m, ctx.org_id, id_), Route.PRIMARY)
        if wanted is not None and wanted != current.version_id:
            raise FhirError.of(Category.PRECONDITION, "conflict", "RES-VERSION-CONFLICT",
                               f"If-Match asked for version {wanted} but {m.resource_type}/{id_} is at "
                               f"version {current.version_id}")
        body = parse_json(_apply(current.resource, patch_doc, m, id_))
        try:
            saved = await store_version(ctx, m, id_, body, current.version_id, resources.Verb.PATCH)
        except FhirError as err:
            if err.category is Category.PRECONDITION and wanted is None and attempt < _RETRIES - 1:
                continue   # someone updated it between our read and write: patch the new version
            if err.category is Category.INCORRECT:
                raise FhirError(Category.UNPROCESSABLE, err.issues) from None
            raise
        return written_reply(ctx, m.resource_type, saved)
    raise AssertionError("unreachable")
