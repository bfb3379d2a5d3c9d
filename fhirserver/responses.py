"""Building FHIR responses: JSON bytes, FHIR headers, pretty printing.

Stored resources are JSON text already; a read sends that text as it is, and a
Bundle embeds it with orjson.Fragment, so nothing is parsed and re-serialised
unless the client asks for _pretty.
"""

from __future__ import annotations

import json
from datetime import datetime

import orjson
from starlette.responses import Response

from fhirserver.headers import etag, http_date
from fhirserver.outcomes import FhirError, Issue, information, operation_outcome


def _body(payload: bytes, pretty: bool) -> bytes:
    if not pretty:
        return payload
    tree = json.loads(payload, parse_float=orjson.Fragment)  # keep decimals exactly as stored
    return orjson.dumps(tree, option=orjson.OPT_INDENT_2)


class FhirResponse(Response):
    """A Starlette Response whose raw headers are written directly: the same headers, in the same
    order, as Response(body, status, headers, media_type) makes, without its general-purpose
    rendering and header merging on every request."""

    def __init__(self, body: bytes, status_code: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def fhir(payload: bytes | None, status: int = 200, *, media_type: str, pretty: bool = False,
         headers: dict[str, str] | None = None) -> Response:
    body = b"" if payload is None else _body(payload, pretty)
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
    if any(k == b"content-length" or k == b"content-type" for k, _ in raw):   # the caller's own: Starlette merges
        return Response(body, status_code=status, headers=headers,
                        media_type=f"{media_type}; charset=utf-8" if payload is not None else None)
    if status >= 200 and status not in (204, 304):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if payload is not None:
        raw.append((b"content-type", f"{media_type}; charset=utf-8".encode("latin-1")))
    return FhirResponse(body, status, raw)


def json_bytes(value: object) -> bytes:
    return orjson.dumps(value)


def version_headers(version: int, last_updated: datetime) -> dict[str, str]:
    return {"ETag": etag(version), "Last-Modified": http_date(last_updated)}


def outcome_bytes(issues: list[Issue]) -> bytes:
    return orjson.dumps(operation_outcome(issues))


def info_bytes(diagnostics: str, msg: str) -> bytes:
    return orjson.dumps(information(diagnostics, msg))


def error_response(err: FhirError, media_type: str = "application/fhir+json") -> Response:
    """An error as its OperationOutcome, with the status and headers it names."""
    return fhir(outcome_bytes(err.issues), err.status, media_type=media_type, headers=err.headers or None)
