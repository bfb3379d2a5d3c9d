"""A thin synchronous FHIR HTTP client that remembers its last exchange, so that a failed
check can show the request and the response that proved it wrong."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

FHIR_JSON = "application/fhir+json"
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Exchange:
    """One request and what came back, as a report shows it."""
    method: str
    url: str
    status: int
    excerpt: str

    @classmethod
    def of(cls, response: httpx.Response) -> Exchange:
        text = response.text
        excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."
        return cls(response.request.method, str(response.request.url), response.status_code, excerpt)


class Client:
    """Requests relative to the FHIR base; absolute URLs (a Bundle's `next` link) go as they are."""

    def __init__(self, base_url: str, token: str | None = None, transport: httpx.BaseTransport | None = None,
                 timeout_s: float = 60.0) -> None:
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url + "/", headers=headers, transport=transport,
                                 timeout=timeout_s)
        self.last: Exchange | None = None

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, json: dict | None = None, content: bytes | str | None = None,
                params: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None
                ) -> httpx.Response:
        sent = dict(headers or {})
        if json is not None or content is not None:
            sent.setdefault("Content-Type", FHIR_JSON)
        response = self.http.request(method, path, json=json, content=content, params=params, headers=sent)
        self.last = Exchange.of(response)
        return response

    def get(self, path: str, **kw) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.request("DELETE", path, **kw)


def body(response: httpx.Response) -> dict | None:
    """The JSON object of a response, or None when there is none or it is not JSON."""
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
