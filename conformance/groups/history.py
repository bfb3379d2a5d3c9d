"""History (http.html#history) and vread (http.html#vread) of a resource created, updated and
deleted by the check: versions newest first, the deletion as an entry without a resource."""

from __future__ import annotations

import re

import httpx

from conformance.checks import check, expect, expect_resource, expect_status
from conformance.claims import all_of, requires_interactions, requires_system
from conformance.client import body
from conformance.context import Context, instant, version_of
from conformance.groups.rest import new_patient, updated

LIFE = requires_interactions("Patient", "create", "update", "delete")
# A shared server may be busy: type and system history are paged through this far, no further.
MAX_HISTORY_PAGES = 20


def _lived(ctx: Context) -> dict:
    """A Patient created, updated once and deleted (once per run): its id, its two stored
    versions and the version the delete made, if the server said."""
    if "history" not in ctx.shared:
        _, first = ctx.create(new_patient(ctx, "Created"))
        response = ctx.client.put(f"Patient/{first['id']}", json=updated(ctx, first, "Updated"),
                                  headers={"Prefer": "return=representation"})
        expect_status(response, 200)
        second = body(response) or body(ctx.client.get(f"Patient/{first['id']}")) or {}
        expect((second.get("meta") or {}).get("versionId") not in (None, first["meta"]["versionId"]),
               "the update made no new meta.versionId", response)
        gone = ctx.client.delete(f"Patient/{first['id']}")
        expect_status(gone, 200, 202, 204)
        ctx.shared["history"] = {"id": first["id"], "versions": [first, second], "deleted": version_of(gone)}
    return ctx.shared["history"]


def _entries(response: httpx.Response) -> list[dict]:
    expect_status(response, 200)
    bundle = expect_resource(response, "Bundle")
    expect(bundle.get("type") == "history", f"Bundle.type is {bundle.get('type')!r}, not history", response)
    return bundle.get("entry", [])


def _version(entry: dict) -> str | None:
    return ((entry.get("resource") or {}).get("meta") or {}).get("versionId")


def _expect_lifecycle(entries: list[dict], lived: dict, what: str, response: httpx.Response) -> None:
    """The deletion first, without a resource and with request.method DELETE, then the update's
    version, then the create's."""
    expect(len(entries) == 3, f"{what}: {len(entries)} entries for a create, an update and a delete", response)
    deletion = entries[0]
    expect((deletion.get("request") or {}).get("method") == "DELETE",
           f"{what}: the newest entry's request.method is {(deletion.get('request') or {}).get('method')!r}, "
           "not DELETE", response)
    expect("resource" not in deletion, f"{what}: the deletion entry carries a resource", response)
    versions = [_version(e) for e in entries[1:]]
    wanted = [v["meta"]["versionId"] for v in reversed(lived["versions"])]
    expect(versions == wanted, f"{what}: versions {versions} after the deletion, expected {wanted} (newest first)",
           response)
    methods = [(e.get("request") or {}).get("method") for e in entries[1:]]
    expect(methods == ["PUT", "POST"], f"{what}: request.method {methods}, expected ['PUT', 'POST']", response)


@check("history.instance", "http.html#history", all_of(LIFE, requires_interactions("Patient", "history-instance")))
def instance(ctx: Context) -> None:
    """GET [type]/[id]/_history after create, update, delete: the deletion, then each version, newest first"""
    lived = _lived(ctx)
    response = ctx.client.get(f"Patient/{lived['id']}/_history")
    _expect_lifecycle(_entries(response), lived, f"Patient/{lived['id']}/_history", response)


@check("history.instance-since", "http.html#history",
       all_of(LIFE, requires_interactions("Patient", "history-instance")))
def instance_since(ctx: Context) -> None:
    """_since=[the update's lastUpdated] leaves out the versions written before it"""
    lived = _lived(ctx)
    first, second = lived["versions"]
    since = second["meta"]["lastUpdated"]
    response = ctx.client.get(f"Patient/{lived['id']}/_history", params=[("_since", since)])
    entries = _entries(response)
    versions = [_version(e) for e in entries]
    wanted = [None, second["meta"]["versionId"]]
    if instant(first["meta"]["lastUpdated"]) >= instant(since):   # written within the same instant
        wanted.append(first["meta"]["versionId"])
    expect(versions == wanted, f"_since={since}: versions {versions}, expected {wanted} (None: the deletion)",
           response)


def _paged_history(ctx: Context, path: str, since: str, resource_id: str) -> tuple[list[dict], httpx.Response]:
    """The entries of Patient/[resource_id] in a type or system history since `since`, across pages."""
    url, found, response = None, [], None
    for _ in range(MAX_HISTORY_PAGES):
        response = ctx.client.get(url) if url else ctx.client.get(path, params=[("_since", since), ("_count", "50")])
        for entry in _entries(response):
            names = f"{entry.get('fullUrl') or ''} {(entry.get('request') or {}).get('url') or ''}"
            if re.search(rf"\bPatient/{re.escape(resource_id)}(?![\w.-])", names):
                found.append(entry)
        url = next((lk["url"] for lk in (body(response) or {}).get("link", []) if lk.get("relation") == "next"),
                   None)
        if not url:
            return found, response
    expect(False, f"{path}?_since={since}: more than {MAX_HISTORY_PAGES} pages", response)
    return found, response


@check("history.type", "http.html#history", all_of(LIFE, requires_interactions("Patient", "history-type")))
def type_history(ctx: Context) -> None:
    """GET [type]/_history?_since lists the resource's deletion and versions, newest first"""
    lived = _lived(ctx)
    since = lived["versions"][0]["meta"]["lastUpdated"]
    entries, response = _paged_history(ctx, "Patient/_history", since, lived["id"])
    _expect_lifecycle(entries, lived, f"Patient/_history?_since={since}", response)


@check("history.system", "http.html#history", all_of(LIFE, requires_system("history-system")))
def system_history(ctx: Context) -> None:
    """GET [base]/_history?_since lists the resource's deletion and versions, newest first"""
    lived = _lived(ctx)
    since = lived["versions"][0]["meta"]["lastUpdated"]
    entries, response = _paged_history(ctx, "_history", since, lived["id"])
    _expect_lifecycle(entries, lived, f"_history?_since={since}", response)


@check("history.vread-each", "http.html#vread", all_of(LIFE, requires_interactions("Patient", "vread")))
def vread_each(ctx: Context) -> None:
    """GET [type]/[id]/_history/[vid] returns each version as it was, after the resource is deleted"""
    lived = _lived(ctx)
    for version in lived["versions"]:
        vid = version["meta"]["versionId"]
        response = ctx.client.get(f"Patient/{lived['id']}/_history/{vid}")
        expect_status(response, 200)
        got = expect_resource(response, "Patient")
        expect((got.get("meta") or {}).get("versionId") == vid, f"_history/{vid} returned another version",
               response)
        expect(got.get("name") == version.get("name"), f"_history/{vid} returned other content than that version",
               response)
