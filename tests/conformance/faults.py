"""A transport between the suite and our real server that spoils real answers in one chosen way,
so that the tests can see the suite notice. Nothing is invented: each fault rewrites what the
real server just answered (or, for the date fault, adds what it answered to another query)."""

from __future__ import annotations

import json
from typing import Callable

import httpx

Fault = Callable[[httpx.Request, httpx.Response, "FaultyTransport"], httpx.Response]
# Headers that no longer hold once a body is rewritten.
_BODY_HEADERS = ("content-length", "content-encoding", "transfer-encoding")


class FaultyTransport(httpx.BaseTransport):
    def __init__(self, fault: Fault) -> None:
        self.inner = httpx.HTTPTransport()
        self.fault = fault
        self.pages_by_next: dict[str, list[dict]] = {}   # for the paging fault: entries seen, by next link
        self.applied = 0

    def real(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.request = request
        response.read()
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.fault(request, self.real(request), self)

    def close(self) -> None:
        self.inner.close()


def replaced(response: httpx.Response, *, status: int | None = None, body: dict | None = None,
             drop_headers: tuple[str, ...] = ()) -> httpx.Response:
    dropped = {h.lower() for h in drop_headers} | (set(_BODY_HEADERS) if body is not None else set())
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    content = json.dumps(body).encode() if body is not None else response.content
    return httpx.Response(status or response.status_code, headers=headers, content=content,
                          request=response.request)


def _searchset(response: httpx.Response) -> dict | None:
    try:
        bundle = response.json()
    except ValueError:
        return None
    return bundle if isinstance(bundle, dict) and bundle.get("type") == "searchset" else None


def _next(bundle: dict) -> str | None:
    return next((lk["url"] for lk in bundle.get("link", []) if lk.get("relation") == "next"), None)


def drop_etag(request, response, transport):
    if "etag" not in response.headers:
        return response
    transport.applied += 1
    return replaced(response, drop_headers=("ETag",))


def drop_one_search_entry(request, response, transport):
    bundle = _searchset(response)
    if not bundle or len(bundle.get("entry", [])) < 2:
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": bundle["entry"][:-1]})


def repeat_page_on_next(request, response, transport):
    """The page a `next` link leads to carries the previous page's entries again."""
    bundle = _searchset(response)
    if not bundle:
        return response
    previous = transport.pages_by_next.get(str(request.url))
    if link := _next(bundle):
        transport.pages_by_next[str(httpx.URL(link))] = bundle.get("entry", [])
    if previous is None:
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": previous})


def malformed_json_accepted(request, response, transport):
    try:
        json.loads(request.content or b"null")
    except ValueError:
        if 400 <= response.status_code < 500:
            transport.applied += 1
            return replaced(response, status=200)
    return response


def date_gt_one_too_many(request, response, transport):
    """birthdate=gtX also returns one resource that birthdate=ltX finds."""
    value = request.url.params.get("birthdate", "")
    bundle = _searchset(response)
    if not value.startswith("gt") or bundle is None:
        return response
    params = [(k, "lt" + v[2:] if k == "birthdate" else v) for k, v in request.url.params.multi_items()]
    other = transport.real(httpx.Request("GET", request.url.copy_with(params=params), headers=request.headers))
    intruder = (_searchset(other) or {}).get("entry", [])[:1]
    if not intruder:
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": bundle.get("entry", []) + intruder})


def date_ge_as_gt(request, response, transport):
    """A date search with `ge` answers what `gt` finds (the day itself is lost)."""
    bundle = _searchset(response)
    dated = [k for k, v in request.url.params.multi_items() if "date" in k and v.startswith("ge")]
    if bundle is None or not dated:
        return response
    params = [(k, "gt" + v[2:] if k in dated else v) for k, v in request.url.params.multi_items()]
    other = transport.real(httpx.Request("GET", request.url.copy_with(params=params), headers=request.headers))
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": (_searchset(other) or {}).get("entry", [])})


def drop_included(request, response, transport):
    """A search with _include or _revinclude answers its matches without what they bring along."""
    bundle = _searchset(response)
    if bundle is None or not any(k.startswith(("_include", "_revinclude")) for k in request.url.params):
        return response
    kept = [e for e in bundle.get("entry", []) if (e.get("search") or {}).get("mode") != "include"]
    if len(kept) == len(bundle.get("entry", [])):
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": kept})


def history_oldest_first(request, response, transport):
    """An instance history lists its versions oldest first."""
    if request.method != "GET" or not request.url.path.endswith("/_history") or response.status_code != 200:
        return response
    bundle = response.json()
    if bundle.get("type") != "history" or len(bundle.get("entry", [])) < 2:
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": bundle["entry"][::-1]})


def sort_ignored_within_page(request, response, transport):
    """A _sort search answers each page's entries in reverse order."""
    bundle = _searchset(response)
    if bundle is None or "_sort" not in request.url.params or len(bundle.get("entry", [])) < 2:
        return response
    transport.applied += 1
    return replaced(response, body={**bundle, "entry": bundle["entry"][::-1]})


def unclaim_chaining(request, response, transport):
    """Not a fault: /metadata stops saying that Observation?subject chains (ours says so)."""
    if not request.url.path.endswith("/metadata") or response.status_code != 200:
        return response
    statement = response.json()
    for entry in statement["rest"][0]["resource"]:
        if entry["type"] != "Observation":
            continue
        entry.pop("searchInclude", None)
        for param in entry.get("searchParam", []):
            if param["name"] == "subject":
                transport.applied += 1
                param["documentation"] = "Modifiers: :missing."
    return replaced(response, body=statement)


def unclaim_includes(request, response, transport):
    """Not a fault: /metadata lists no searchInclude, no searchRevInclude and no patchFormat."""
    if not request.url.path.endswith("/metadata") or response.status_code != 200:
        return response
    statement = response.json()
    statement.pop("patchFormat", None)
    for entry in statement["rest"][0]["resource"]:
        transport.applied += bool(entry.pop("searchInclude", None)) + bool(entry.pop("searchRevInclude", None))
    return replaced(response, body=statement)
