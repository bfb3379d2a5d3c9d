"""Exact JSON comparison and small request helpers shared by the property tests."""

from __future__ import annotations

import json
import os
import re
import uuid

from mappings.extract import mrn_of

# FHIR_PROPERTY_SCALE=10 runs ten times as many examples (for a longer bug hunt).
SCALE = float(os.environ.get("FHIR_PROPERTY_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})")


class Number:
    """A JSON number kept as its text: 1.50, 1.5, -0, 0 and the string "1.5" all differ."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return self.text


class Object(tuple):
    """A JSON object as its (key, value) pairs in order, so equality is order-sensitive."""

    __slots__ = ()

    def get(self, key: str, default: object = None) -> object:
        for k, v in self:
            if k == key:
                return v
        return default

    def keys(self) -> list[str]:
        return [k for k, _ in self]

    def without(self, *keys: str) -> "Object":
        return Object((k, v) for k, v in self if k not in keys)


def exact(raw: bytes | str) -> object:
    """Parse JSON keeping all a FHIR round trip must keep: key order and the text of every
    number. Equal results = equal JSON up to whitespace and string escapes."""
    return json.loads(raw, parse_float=Number, parse_int=Number, object_pairs_hook=Object)


def show(raw: bytes | str, limit: int = 4000) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def unique_mrn(resource: dict) -> dict:
    """Patients whose first MR-typed identifier has a value must differ in it (the server keeps
    MRNs unique per organisation, a rule of this project and not of FHIR): make such values
    unique. Anything else is returned unchanged."""
    if resource.get("resourceType") != "Patient" or mrn_of(resource) is None:
        return resource
    suffix = uuid.uuid4().hex[:12]
    out = dict(resource)
    out["identifier"] = [
        {**ident, "value": f"{ident['value']}-{suffix}"}
        if "value" in ident and any(c.get("code") == "MR" for c in ident.get("type", {}).get("coding", ()))
        else ident
        for ident in resource["identifier"]]
    return out


def assert_stored(served: bytes, sent: bytes, resource_type: str, id_: str | None, version: int,
                  context: str = "") -> str:
    """`served` (a write response or a read) is exactly `sent` with the server's id and meta:
    same elements, same key order (an id the client left out follows resourceType, a meta it
    left out follows the id), same decimal text; meta is versionId, lastUpdated, then the
    client's own meta elements (less versionId/lastUpdated) in their order. Returns the id."""
    got, want = exact(served), exact(sent)
    where = f"{context}\nsent:   {show(sent)}\nserved: {show(served)}"
    assert isinstance(got, Object), where
    assert got.keys() == _served_order(want.keys()), where
    assert got.get("resourceType") == resource_type, where
    assert got.without("id", "meta") == want.without("id", "meta"), "elements differ" + where
    served_id = got.get("id")
    assert isinstance(served_id, str) and ID.fullmatch(served_id), where
    if id_ is not None:
        assert served_id == id_, where
    meta = got.get("meta")
    assert meta.keys()[:2] == ["versionId", "lastUpdated"], where
    assert meta.get("versionId") == str(version), where
    assert INSTANT.fullmatch(meta.get("lastUpdated")), where
    client = want.get("meta") or Object()
    assert meta.without("versionId", "lastUpdated") == client.without("versionId", "lastUpdated"), (
        "client meta not kept" + where)
    return served_id


def _served_order(sent: list[str]) -> list[str]:
    order = list(sent)
    if "id" not in order:
        order.insert(order.index("resourceType") + 1, "id")
    if "meta" not in order:
        order.insert(order.index("id") + 1, "meta")
    return order
