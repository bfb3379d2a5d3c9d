"""Parsing of the HTTP headers FHIR gives meaning to, and nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

from starlette.datastructures import Headers

from fhirserver.outcomes import Category, FhirError, invalid

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "text/json", "application/json+fhir"}
_XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"}
_FORMAT_ALIASES = {"json": FHIR_JSON, "xml": "application/fhir+xml", "ttl": "text/turtle",
                   "html": "text/html"}
_ETAG = re.compile(r'\s*(?:W/)?"?([0-9]+)"?\s*')


class RequestHeaders(Headers):
    """A request's headers, as Starlette's Headers, with a `get` that returns the default
    directly: Mapping.get raises and catches a KeyError for every header a request does not
    carry, which is most of the FHIR ones (Prefer, If-None-Match, ...) on most requests."""

    def get(self, key: str, default=None):
        wanted = key.lower().encode("latin-1")
        for name, value in self._list:
            if name == wanted:
                return value.decode("latin-1")
        return default


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etag(value: str | None, header: str = "If-Match") -> int | None:
    """The version in `W/"3"` (or a bare "3"); 400 for anything else."""
    if value is None:
        return None
    m = _ETAG.fullmatch(value)
    if not m:
        raise invalid(f"{header} must be a version ETag such as W/\"3\", not {value!r}", "HTTP-ETAG")
    return int(m.group(1))


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(ts: datetime) -> str:
    """IMF-fixdate, as email.utils.format_datetime(..., usegmt=True) writes it, in one step."""
    t = ts.astimezone(timezone.utc)
    return (f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT")


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Prefer:
    """The Prefer header: return= (minimal | representation | OperationOutcome) and handling=."""

    return_: str = "representation"
    handling: str | None = None     # strict | lenient; None when the client did not say


DEFAULT_PREFER = Prefer()


def parse_prefer(value: str | None) -> Prefer:
    if not value:
        return Prefer()
    found = {}
    for part in value.split(","):
        for item in part.split(";"):
            key, _, val = item.strip().partition("=")
            found[key.strip().lower()] = val.strip().strip('"')
    ret = found.get("return", "representation")
    if ret.lower() == "operationoutcome":
        ret = "OperationOutcome"
    elif ret not in ("minimal", "representation"):
        ret = "representation"
    handling = found.get("handling") if found.get("handling") in ("strict", "lenient") else None
    return Prefer(ret, handling)


def _mime(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = value.split(";")
    parsed = {}
    for p in params:
        k, _, v = p.partition("=")
        parsed[k.strip().lower()] = v.strip().strip('"')
    return kind.strip().lower(), parsed


def _check_version(params: dict[str, str], category: Category) -> None:
    version = params.get("fhirversion")
    if version and not version.startswith("4.0"):
        raise FhirError.of(category, "not-supported", "HTTP-FHIR-VERSION",
                           f"This server speaks FHIR 4.0.1, not fhirVersion={version}")


@lru_cache(maxsize=256)   # clients send a handful of distinct values; errors are raised afresh
def response_type(format_param: str | None, accept: str | None) -> str:
    """The media type to answer with: _format wins over Accept (http.html#mime-type); 406 if
    only a format we do not produce (XML, Turtle) is acceptable."""
    if format_param:
        kind, params = _mime(_FORMAT_ALIASES.get(format_param.strip(), format_param.replace(" ", "+")))
        if kind in _JSON_TYPES:
            _check_version(params, Category.NOT_ACCEPTABLE)
            return kind if kind == "application/json" else FHIR_JSON
        raise FhirError.of(Category.NOT_ACCEPTABLE, "not-supported", "HTTP-FORMAT",
                           f"_format={format_param} is not supported; this server produces JSON only")
    if not accept:
        return FHIR_JSON
    wanted = [_mime(part) for part in accept.split(",") if part.strip()]
    for kind, params in wanted:
        if kind in _JSON_TYPES:
            _check_version(params, Category.NOT_ACCEPTABLE)
            return kind if kind == "application/json" else FHIR_JSON
    if all(kind in _XML_TYPES or kind == "text/turtle" for kind, _ in wanted):
        raise FhirError.of(Category.NOT_ACCEPTABLE, "not-supported", "HTTP-ACCEPT",
                           f"Accept: {accept} cannot be met; this server produces application/fhir+json")
    return FHIR_JSON   # */*, text/html and the like: JSON is our best representation


def check_body_type(content_type: str | None, allowed: frozenset[str] = frozenset(_JSON_TYPES)) -> str | None:
    """415 unless the request body is declared as one of `allowed` (absent is taken as JSON);
    the declared media type, None if absent."""
    if not content_type:
        return None
    kind, params = _mime(content_type)
    if kind not in allowed:
        raise FhirError.of(Category.UNSUPPORTED_MEDIA, "not-supported", "HTTP-CONTENT-TYPE",
                           f"Content-Type {kind} is not supported here; send one of "
                           + ", ".join(sorted(allowed)))
    _check_version(params, Category.UNSUPPORTED_MEDIA)
    return kind
