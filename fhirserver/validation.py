"""Parsing and validating resource bodies against the official R4 (4.0.1) definitions.

Structure, types, required elements, value sets bound by `enum` and primitive
patterns come from the R4 JSON schema, checked by jsonschema-rs (compiled Rust,
chosen over fhir.resources and the pure-Python jsonschema because every write pays
for it; bench/validation.py compares them). The rules the schema cannot
express are checked by `spec.walk`. Contained resources are validated one by
one with their own type's schema, which gives far better messages than the
schema's 146-way `oneOf`.

Decimals: FHIR requires the precision of a decimal to survive (0.010 is not
0.01), which a float cannot hold. Bodies that may carry a fraction, an exponent
or a long integer are parsed a second time with the number text kept verbatim
(`orjson.Fragment`); that tree is the one stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import jsonschema_rs
import orjson

from fhirserver import spec
from fhirserver.outcomes import Category, FhirError, Issue, invalid
from fhirserver.spec.model import RESOURCE_LIST
from fhirserver.spec.walk import Inspection, inspect

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_MAYBE_DECIMAL = re.compile(rb"\d[.eE]|\d{16}|-0")


class ExactDecimal(Decimal):
    """A decimal that remembers its JSON text ("0.00000010" stays so, not 1.0E-7).

    Compares as a number (so JSON Patch `test` works) and is written back verbatim by
    `dumps_exact`. Copies keep the text: jsonpatch deep-copies documents.
    """

    __slots__ = ("text",)

    def __new__(cls, text: str) -> "ExactDecimal":
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __reduce__(self):
        return (ExactDecimal, (self.text,))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def loads_exact(raw: bytes | str) -> object:
    """Parse JSON keeping every number's text (integers too: "-0" must not become 0)."""
    return json.loads(raw, parse_float=ExactDecimal, parse_int=_exact_int,
                      parse_constant=_reject_constant)


def _exact_int(text: str) -> int | ExactDecimal:
    """Plain ints where JSON writers handle them; "-0" and integers past 64 bits keep their text."""
    return ExactDecimal(text) if text == "-0" or len(text) > 15 else int(text)


def _exact_default(value: object) -> orjson.Fragment:
    if isinstance(value, ExactDecimal):
        return orjson.Fragment(value.text)
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(type(value).__name__)


def dumps_exact(value: object) -> bytes:
    return orjson.dumps(value, default=_exact_default)


def stored_document(exact: dict, id_: str, version: str, last_updated: str) -> dict:
    """The resource as stored and served: the client's JSON with the server's id and
    meta.versionId/lastUpdated, every other member where the client put it (a ConceptMap
    written with sorted keys comes back sorted). A missing id goes after resourceType, a
    missing meta after id."""
    client_meta = {k: v for k, v in (exact.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    meta = {"versionId": version, "lastUpdated": last_updated, **client_meta}
    doc: dict = {}
    for key, value in exact.items():
        doc[key] = id_ if key == "id" else meta if key == "meta" else value
        if key == "resourceType" and "id" not in exact:
            doc["id"] = id_
        if "meta" not in exact and key == ("id" if "id" in exact else "resourceType"):
            doc["meta"] = meta
    return doc


@dataclass(frozen=True, slots=True)
class Body:
    """A parsed request body: `value` for reading, `exact` (decimals verbatim) for storing."""

    value: object
    exact: object


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Body:
    """Parse JSON or raise 400 with the parser's position."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"The body is not valid JSON: {exc}", "RES-BODY-JSON", code="structure") from None
    if not _MAYBE_DECIMAL.search(raw):
        return Body(value, value)
    exact = json.loads(raw, parse_float=orjson.Fragment, parse_int=_int_or_fragment,
                       parse_constant=_reject_constant)
    return Body(value, exact)


def _int_or_fragment(text: str) -> int | orjson.Fragment:
    return orjson.Fragment(text) if text == "-0" or len(text) > 15 else int(text)


@cache
def _validator(resource_type: str) -> jsonschema_rs.Draft6Validator:
    definitions = dict(spec.schema()["definitions"])
    # Contained resources are checked one by one (see module docstring).
    definitions[RESOURCE_LIST] = {"type": "object", "required": ["resourceType"]}
    return jsonschema_rs.Draft6Validator(
        {"definitions": definitions, "$ref": f"#/definitions/{resource_type}"})


def _location(base: str, path: list) -> str:
    out = base
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_issues(resource: dict, resource_type: str, base: str) -> list[Issue]:
    issues = []
    for err in _validator(resource_type).iter_errors(resource):
        where = _location(base, list(err.instance_path))
        keyword = err.schema_path[-1] if err.schema_path else ""
        if keyword == "additionalProperties":
            for name in err.kind.unexpected:
                issues.append(Issue("structure", f"Unknown element '{name}' in {where}",
                                    "RES-UNKNOWN-ELEMENT", (f"{where}.{name}",)))
        elif keyword == "required":
            issues.append(Issue("required", f"Missing required element '{err.kind.property}' in {where}",
                                "RES-REQUIRED", (f"{where}.{err.kind.property}",)))
        elif keyword == "type":
            issues.append(Issue("structure", f"Wrong type at {where}: {err.message}", "RES-TYPE", (where,)))
        else:
            issues.append(Issue("value", f"Invalid value at {where}: {err.message}", "RES-VALUE", (where,)))
    return issues


def validate(resource: object, resource_type: str) -> Inspection:
    """Check a resource of `resource_type` completely; raise 400 listing every problem found."""
    if not isinstance(resource, dict):
        raise invalid("The body must be a JSON object holding one resource", "RES-BODY-NOT-OBJECT",
                      code="structure")
    actual = resource.get("resourceType")
    if actual != resource_type:
        raise invalid(f"Expected a {resource_type} resource but the body has resourceType "
                      f"{actual!r}", "RES-WRONG-TYPE", (f"{resource_type}.resourceType",))
    issues = _schema_issues(resource, resource_type, resource_type)
    found = inspect(resource)
    issues.extend(found.issues)
    # A Bundle's entries are validated one by one by the interactions they name.
    for where, contained in (found.contained if resource_type != "Bundle" else ()):
        kind = contained.get("resourceType")
        if kind not in spec.resource_types():
            issues.append(Issue("structure", f"{where} has no valid resourceType", "RES-CONTAINED",
                                (where,)))
        else:
            issues.extend(_schema_issues(contained, kind, where))
            if "contained" in contained:
                issues.append(Issue("structure", f"{where} must not itself contain resources",
                                    "RES-CONTAINED", (f"{where}.contained",)))
    if issues:
        raise FhirError(Category.INCORRECT, issues)
    return found


def check_id(id_: str, where: str) -> None:
    if not ID_PATTERN.fullmatch(id_):
        raise invalid(f"'{id_}' is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", "RES-BAD-ID", (where,))
