"""What every check gets: the client, the server's claims, and this run's tag, random source
and shared data. Everything the suite writes carries the run's tag, and every search it makes
is narrowed to that tag, so that it sees, changes and deletes only its own data."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import httpx

from conformance.checks import Failed, expect, expect_status
from conformance.claims import Claims
from conformance.client import Client, body

TAG_SYSTEM = "urn:fhir-conformance:run"
# A shared server may hold anything: a run never pages further than this through a search.
MAX_PAGES = 50


def run_id_for(seed: int) -> str:
    return "cf" + hashlib.sha256(f"fhir-conformance:{seed}".encode()).hexdigest()[:14]


@dataclass
class Context:
    client: Client
    claims: Claims
    seed: int
    run_id: str = ""
    rng: random.Random = field(init=False)
    created_types: list[str] = field(default_factory=list)
    shared: dict = field(default_factory=dict)   # data a group builds once for its checks
    _counter: int = 0

    def __post_init__(self) -> None:
        self.run_id = self.run_id or run_id_for(self.seed)
        self.rng = random.Random(self.seed)

    @property
    def tag_param(self) -> tuple[str, str]:
        return ("_tag", f"{TAG_SYSTEM}|{self.run_id}")

    def unique(self, prefix: str) -> str:
        """A value no other resource of this run carries, the same for the same seed."""
        self._counter += 1
        return f"{prefix}-{self.run_id}-{self._counter}"

    def tagged(self, resource: dict) -> dict:
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [{"system": TAG_SYSTEM, "code": self.run_id}]
        return {**resource, "meta": meta}

    def noted(self, resource_type: str) -> None:
        if resource_type not in self.created_types:
            self.created_types.append(resource_type)

    def create(self, resource: dict, headers: dict | None = None) -> tuple[httpx.Response, dict]:
        """POST the resource with the run's tag; the stored resource (read back if the server
        answered without a body). Fails the check on anything but 201."""
        resource_type = resource["resourceType"]
        self.noted(resource_type)
        response = self.client.post(resource_type, json=self.tagged(resource),
                                    headers={"Prefer": "return=representation", **(headers or {})})
        expect_status(response, 201)
        stored = body(response)
        if not stored or stored.get("resourceType") != resource_type:
            location = response.headers.get("Location", "")
            expect(f"{resource_type}/" in location, "201 without a body or a Location", response)
            stored = body(self.client.get(_relative(location, resource_type)))
            expect(stored is not None, "could not read the created resource back", response)
        return response, stored

    def search_pages(self, resource_type: str, params: list[tuple[str, str]], method: str = "GET",
                     headers: dict[str, str] | None = None) -> list[httpx.Response]:
        """Every page of a search narrowed to this run's data, following `next` links."""
        query = [*params, self.tag_param]
        if method == "POST":
            first = self.client.post(f"{resource_type}/_search", content=urlencode(query),
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        else:
            first = self.client.get(resource_type, params=query, headers=headers)
        pages = [first]
        while True:
            expect_status(pages[-1], 200)
            bundle = body(pages[-1])
            expect(bundle is not None and bundle.get("resourceType") == "Bundle"
                   and bundle.get("type") == "searchset", "a search answered something else than a searchset "
                   "Bundle", pages[-1])
            link = next((lk.get("url") for lk in bundle.get("link", []) if lk.get("relation") == "next"), None)
            if not link:
                return pages
            if len(pages) >= MAX_PAGES:
                raise Failed(f"more than {MAX_PAGES} pages of `next` links", pages[-1])
            pages.append(self.client.get(link, headers=headers))

    def search_ids(self, resource_type: str, params: list[tuple[str, str]], method: str = "GET"
                   ) -> tuple[list[str], httpx.Response]:
        """The ids of the matches (search.mode match, or no mode) over all pages, in order, and
        the first page's response."""
        pages = self.search_pages(resource_type, params, method)
        return [i for page in pages for i in match_ids(body(page), resource_type)], pages[0]


def entries_by_mode(pages: list[httpx.Response], mode: str) -> list[str]:
    """`Type/id` of every entry over all pages whose search.mode is `mode` (no mode counts as match)."""
    return [f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}" for page in pages
            for e in (body(page) or {}).get("entry", [])
            if e.get("resource") and (e.get("search") or {}).get("mode", "match") == mode]


def match_ids(bundle: dict, resource_type: str) -> list[str]:
    return [e["resource"].get("id") for e in bundle.get("entry", [])
            if (e.get("resource") or {}).get("resourceType") == resource_type
            and (e.get("search") or {}).get("mode", "match") == "match"]


def _relative(location: str, resource_type: str) -> str:
    """`http://x/base/Patient/1/_history/2` -> `Patient/1`: what to read back."""
    tail = location[location.rfind(f"{resource_type}/"):]
    return "/".join(tail.split("/")[:2])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def version_of(response: httpx.Response) -> str | None:
    """The version an ETag (`W/"3"`) names, or None."""
    etag = response.headers.get("ETag")
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"')
