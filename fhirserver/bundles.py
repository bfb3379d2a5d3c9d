"""searchset and history Bundles, with their links (page cursors: searchparams/cursor.py)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from urllib.parse import quote_plus

import orjson

from fhirserver.db.resources import Stored, Verb
from fhirserver.fhirtime import instant_text
from fhirserver.headers import etag

# Text that urllib's quote_plus leaves as it is (its always-safe characters).
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote(text: str) -> str:
    return text if _URL_SAFE.fullmatch(text) else quote_plus(text)


def link(url: str, items: list[tuple[str, str]]) -> str:
    """`url?` and the items as urlencode(items) writes them; most names and values (codes,
    cursors) need no quoting, and skipping quote_plus for them is most of the cost."""
    if not items:
        return url
    return url + "?" + "&".join(_quote(str(k)) + "=" + _quote(str(v)) for k, v in items)


def _shell(kind: str, links: list[dict]) -> dict:
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": instant_text(datetime.now(timezone.utc))},
            "type": kind, "link": links}


def searchset(base: str, resource_type: str, matches: list[tuple[str, object]], links: list[dict],
              total: int | None, included: list[tuple[str, str, str]] = ()) -> dict:
    """`matches`: (id, resource as orjson.Fragment or dict); `included`: (type, id, JSON text)."""
    return typed_searchset(base, [(resource_type, i, r) for i, r in matches], links, total, included)


def typed_searchset(base: str, matches: list[tuple[str, str, object]], links: list[dict], total: int | None,
                    included: list[tuple[str, str, str]] = ()) -> dict:
    """A searchset whose matches may be of several types (system search): (type, id, resource)."""
    bundle = _shell("searchset", links)
    if total is not None:
        bundle["total"] = total
    entries = [{"fullUrl": f"{base}/{kind}/{id_}", "resource": resource, "search": {"mode": "match"}}
               for kind, id_, resource in matches]
    entries += [{"fullUrl": f"{base}/{kind}/{id_}", "resource": orjson.Fragment(text),
                 "search": {"mode": "include"}} for kind, id_, text in included]
    if entries:   # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle


# verb -> (request.method, whether the URL names the id, response.status)
_VERBS = {Verb.CREATE: ("POST", False, "201 Created"), Verb.PUT_CREATE: ("PUT", True, "201 Created"),
          Verb.UPDATE: ("PUT", True, "200 OK"), Verb.PATCH: ("PATCH", True, "200 OK"),
          Verb.DELETE: ("DELETE", True, "200 OK")}   # what a delete answers by default


def _history_entry(base: str, resource_type: str, v: Stored) -> dict:
    url = f"{resource_type}/{v.id}"
    method, with_id, status = _VERBS[v.verb]
    request = {"method": method, "url": url if with_id else resource_type}
    entry: dict = {"fullUrl": f"{base}/{url}"}
    if not v.deleted:
        entry["resource"] = orjson.Fragment(v.resource)
    entry["request"] = request
    entry["response"] = {"status": status, "etag": etag(v.version_id),
                         "lastModified": instant_text(v.last_updated)}
    return entry


def history(base: str, resource_type: str, versions: list[Stored], links: list[dict]) -> dict:
    return typed_history(base, [(resource_type, v) for v in versions], links)


def typed_history(base: str, versions: list[tuple[str, Stored]], links: list[dict]) -> dict:
    """A history Bundle of versions of any types (system history), each with its type."""
    bundle = _shell("history", links)
    if versions:
        bundle["entry"] = [_history_entry(base, t, v) for t, v in versions]
    return bundle
