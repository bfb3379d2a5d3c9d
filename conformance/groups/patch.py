"""PATCH (http.html#patch) in the formats the statement's patchFormat lists: JSON Patch
(RFC 6902) and JSON Merge Patch (RFC 7396). A patch applies and makes a new version; a failing
`test` operation and a stale If-Match change nothing."""

from __future__ import annotations

import json

import httpx

from conformance.checks import check, expect, expect_status
from conformance.claims import all_of, requires_flag, requires_interactions, requires_patch_format
from conformance.client import body
from conformance.context import Context, version_of
from conformance.groups.rest import new_patient

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PATCH = requires_interactions("Patient", "create", "patch", "read")


def _patch(ctx: Context, resource_id: str, kind: str, document: object, headers: dict | None = None
           ) -> httpx.Response:
    return ctx.client.request("PATCH", f"Patient/{resource_id}", content=json.dumps(document),
                              headers={"Content-Type": kind, **(headers or {})})


def _current(ctx: Context, resource_id: str) -> dict:
    response = ctx.client.get(f"Patient/{resource_id}")
    expect_status(response, 200)
    return body(response) or {}


def _applies(ctx: Context, kind: str, document: object) -> None:
    _, stored = ctx.create(new_patient(ctx))   # gender female
    response = _patch(ctx, stored["id"], kind, document)
    expect_status(response, 200)
    got = _current(ctx, stored["id"])
    expect(got.get("gender") == "male", f"after the patch gender is {got.get('gender')!r}, expected 'male'", response)
    expect(got.get("name") == stored.get("name"), "the patch changed what it did not name", response)
    version = (got.get("meta") or {}).get("versionId")
    expect(version not in (None, stored["meta"]["versionId"]), f"the patch left meta.versionId at {version}",
           response)
    etag = version_of(response)
    expect(etag in (None, version), f"the patch answered ETag {etag}, but the resource is at {version}", response)


@check("patch.json-patch", "http.html#patch", all_of(PATCH, requires_patch_format(JSON_PATCH)))
def json_patch(ctx: Context) -> None:
    """PATCH with application/json-patch+json applies the operations and makes a new version"""
    _applies(ctx, JSON_PATCH, [{"op": "replace", "path": "/gender", "value": "male"}])


@check("patch.merge-patch", "http.html#patch", all_of(PATCH, requires_patch_format(MERGE_PATCH)))
def merge_patch(ctx: Context) -> None:
    """PATCH with application/merge-patch+json merges the document and makes a new version"""
    _applies(ctx, MERGE_PATCH, {"gender": "male"})


@check("patch.failed-test", "http.html#patch", all_of(PATCH, requires_patch_format(JSON_PATCH)))
def failed_test(ctx: Context) -> None:
    """a JSON Patch whose `test` operation fails answers 422 or 400 and changes nothing"""
    _, stored = ctx.create(new_patient(ctx))
    response = _patch(ctx, stored["id"], JSON_PATCH, [{"op": "test", "path": "/gender", "value": "male"},
                                                      {"op": "replace", "path": "/gender", "value": "other"}])
    expect_status(response, 422, 400)
    got = _current(ctx, stored["id"])
    expect(got.get("gender") == "female" and got["meta"]["versionId"] == stored["meta"]["versionId"],
           f"the refused patch changed the resource (gender {got.get('gender')!r}, version "
           f"{got['meta'].get('versionId')})", response)


@check("patch.if-match-stale", "http.html#concurrency",
       all_of(PATCH, requires_patch_format(JSON_PATCH), requires_flag("Patient", "versioning", ("versioned-update",))))
def if_match_stale(ctx: Context) -> None:
    """PATCH with If-Match naming a superseded version answers 412 and changes nothing"""
    _, stored = ctx.create(new_patient(ctx))
    first = stored["meta"]["versionId"]
    expect_status(_patch(ctx, stored["id"], JSON_PATCH, [{"op": "replace", "path": "/gender", "value": "male"}]), 200)
    stale = _patch(ctx, stored["id"], JSON_PATCH, [{"op": "replace", "path": "/gender", "value": "other"}],
                   headers={"If-Match": f'W/"{first}"'})
    expect_status(stale, 412)
    expect(_current(ctx, stored["id"]).get("gender") == "male", "the stale patch was applied anyway", stale)
