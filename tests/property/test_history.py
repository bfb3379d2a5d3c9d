"""Property: any update sequence on one resource yields a consistent history.

A sequence starts with a create (POST, or PUT of a new client-chosen id: update-as-create)
and goes on with up to five operations on that id:
- PUT of a freshly generated valid resource of the type (after a delete: a re-create, 201);
- PATCH (JSON Patch) turning the current version into another generated resource: it removes
  the elements the new one lacks and adds/replaces the others (410 if deleted);
- DELETE (a second delete in a row changes nothing and answers 204).
Afterwards:

- the instance history (all pages, following `next`) lists versions n..1, newest first,
  contiguous; each entry's request is POST <Type> for a version 1 made by POST, DELETE for a
  delete (which has no `resource`), PUT (or PATCH) <Type>/<id> otherwise; etag, lastModified
  and response.status agree with the writes;
- every entry's resource, and every vread, is exactly the JSON the writing operation returned
  (a vread of a delete is 410, of version n+1 is 404);
- read returns the last version, or 410 after a delete.
A write's own response must be the sent resource (for a patch: the current version with the
patch applied locally) plus the server's id and meta, exactly (key order, decimal text).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import jsonpatch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.property import strategies
from tests.property.support import assert_stored, exact, examples, show, unique_mrn

SETTINGS = settings(max_examples=examples(15), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
MAX_FOLLOWING = 5
_FIXED = ("resourceType", "id")
PATCH = {"Content-Type": "application/json-patch+json"}


@dataclass(frozen=True)
class Version:
    number: int
    method: str            # POST, PUT, PATCH or DELETE: what made this version
    status: int            # the HTTP status the write answered
    body: bytes | None     # the write response, i.e. the stored JSON; None for a delete


def _operations(type_name: str):
    put = st.tuples(st.just("PUT"), strategies.documents(type_name))
    patch = st.tuples(st.just("PATCH"), strategies.documents(type_name))
    delete = st.just(("DELETE", None))
    one = st.one_of(put, patch, delete)
    # lengths 0..MAX_FOLLOWING equally likely (plain st.lists favours short lists)
    return st.integers(0, MAX_FOLLOWING).flatmap(lambda n: st.lists(one, min_size=n, max_size=n))


def _patch_to(current: dict, target: dict, with_test: bool) -> list[dict]:
    """A JSON Patch turning `current` (a stored version) into `target`'s elements; the stored
    meta stays unless `target` brings its own."""
    ops: list[dict] = [{"op": "test", "path": "/id", "value": current["id"]}] if with_test else []
    ops += [{"op": "remove", "path": f"/{k}"} for k in current
            if k not in target and k not in _FIXED and k != "meta"]
    ops += [{"op": "replace" if k in current else "add", "path": f"/{k}", "value": v}
            for k, v in target.items() if k not in _FIXED]
    return ops


def _loads_text(raw: bytes) -> dict:
    """A stored version as dicts whose numbers are DecimalText, so `dumps` writes them back verbatim."""
    return json.loads(raw, parse_float=strategies.DecimalText, parse_int=strategies.DecimalText)


async def _history_pages(fhir, url: str, count: int | None) -> list:
    """All entries of an instance history (exact-parsed), following next links."""
    entries, pages = [], 0
    r = await fhir.get(url, params={"_count": str(count)} if count else None)
    while True:
        assert r.status_code == 200, show(r.content)
        pages += 1
        bundle = exact(r.content)
        assert bundle.get("resourceType") == "Bundle" and bundle.get("type") == "history", show(r.content)
        page = list(bundle.get("entry", ()))
        if count:
            assert len(page) <= count
        entries += page
        nxt = [link.get("url") for link in bundle.get("link") if link.get("relation") == "next"]
        if not nxt:
            return entries
        assert pages < 50, "history paging does not end"
        r = await fhir.get(nxt[0])


@SETTINGS
@given(data=st.data())
async def test_any_update_sequence_yields_a_consistent_history(fhir, data):
    # AuditEvents are append-only (no update, patch or delete through the API)
    type_name = data.draw(st.sampled_from([t for t in strategies.STORED_TYPES if t != "AuditEvent"]), label="type")
    first = data.draw(st.sampled_from(["POST", "PUT"]), label="created by")
    ops = [(first, data.draw(strategies.documents(type_name), label="first version"))]
    ops += data.draw(_operations(type_name), label="then")
    count = data.draw(st.sampled_from([None, 1, 2, 3]), label="_count")
    with_test = data.draw(st.booleans(), label="patches start with a test op")

    id_ = None if first == "POST" else f"prop-{uuid.uuid4().hex}"
    versions: list[Version] = []
    deleted = False
    log = []        # what was done, for failure messages
    for step, (kind, document) in enumerate(ops):
        where = f"step {step} ({kind}) of {[k for k, _ in ops]} on {type_name}/{id_}"
        if kind == "DELETE":
            r = await fhir.delete(f"/{type_name}/{id_}")
            log.append(f"DELETE -> {r.status_code}")
            if deleted:
                assert r.status_code == 204, f"{where}: {show(r.content)}"
                continue
            assert r.status_code == 200, f"{where}: {show(r.content)}"
            versions.append(Version(len(versions) + 1, "DELETE", r.status_code, None))
            assert r.headers["ETag"] == f'W/"{len(versions)}"', where
            deleted = True
            continue
        document = unique_mrn(document)
        if kind == "PATCH":
            if deleted:
                r = await fhir.patch(f"/{type_name}/{id_}", headers=PATCH,
                                     content=strategies.dumps(_patch_to({"id": id_}, document, with_test)))
                log.append(f"PATCH -> {r.status_code}")
                assert r.status_code == 410, f"{where}: {show(r.content)}"
                continue
            patch = _patch_to(_loads_text(versions[-1].body), document, with_test)
            sent = strategies.dumps(jsonpatch.apply_patch(_loads_text(versions[-1].body), patch))
            operations = strategies.dumps(patch)
            r = await fhir.patch(f"/{type_name}/{id_}", headers=PATCH, content=operations)
            where += f"\npatch: {show(operations)}"
        elif kind == "POST":
            sent = strategies.dumps(document)
            r = await fhir.post(f"/{type_name}", content=sent)
        else:
            sent = strategies.dumps(strategies.with_id(document, id_))
            r = await fhir.put(f"/{type_name}/{id_}", content=sent)
        log.append(f"{kind} -> {r.status_code}")
        creates = not versions or deleted
        assert r.status_code == (201 if creates else 200), f"{where}\nsent: {show(sent)}\nreply: {show(r.content)}"
        number = len(versions) + 1
        id_ = assert_stored(r.content, sent, type_name, id_, number, where)
        assert r.headers["ETag"] == f'W/"{number}"', where
        versions.append(Version(number, kind, r.status_code, r.content))
        deleted = False

    for what in {entry.split(" ->")[0] + (" (creates)" if "201" in entry else "") for entry in log}:
        event(what)     # shown by --hypothesis-show-statistics
    event(f"{len(versions)} versions")
    where = f"{type_name}/{id_} after {log}"
    entries = await _history_pages(fhir, f"/{type_name}/{id_}/_history", count)
    etags = [e.get("response").get("etag") for e in entries]
    assert etags == [f'W/"{v.number}"' for v in reversed(versions)], f"{where}: {etags}"

    stamps = []
    for entry, version in zip(entries, reversed(versions)):
        context = f"{where}, version {version.number}: {entry!r}"
        assert entry.get("fullUrl").endswith(f"/{type_name}/{id_}"), context
        request = entry.get("request")
        url = type_name if version.method == "POST" else f"{type_name}/{id_}"
        assert (request.get("method"), request.get("url")) == (version.method, url), context
        response = entry.get("response")
        if version.method == "DELETE":     # the delete answered 200 with an OperationOutcome
            assert response.get("status").split()[0] in ("200", "204"), context
        else:
            assert response.get("status").split()[0] == str(version.status), context
        stamps.append(response.get("lastModified"))
        if version.method == "DELETE":
            assert entry.get("resource") is None, context
        else:
            assert entry.get("resource") == exact(version.body), context
            assert entry.get("resource").get("meta").get("lastUpdated") == stamps[-1], context
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps), f"{where}: {stamps}"

    for version in versions:
        r = await fhir.get(f"/{type_name}/{id_}/_history/{version.number}")
        if version.body is None:
            assert r.status_code == 410, f"{where}: vread {version.number}: {show(r.content)}"
        else:
            assert r.status_code == 200, f"{where}: vread {version.number}: {show(r.content)}"
            assert r.content == version.body, (
                f"{where}: vread {version.number}\nwritten: {show(version.body)}\nvread:   {show(r.content)}")
    beyond = await fhir.get(f"/{type_name}/{id_}/_history/{len(versions) + 1}")
    assert beyond.status_code == 404, f"{where}: vread {len(versions) + 1}: {show(beyond.content)}"

    r = await fhir.get(f"/{type_name}/{id_}")
    if deleted:
        assert r.status_code == 410, f"{where}: read: {show(r.content)}"
    else:
        assert r.status_code == 200, f"{where}: read: {show(r.content)}"
        assert r.content == versions[-1].body, f"{where}: read is not the last version\n{show(r.content)}"
        assert r.headers["ETag"] == f'W/"{len(versions)}"', where
