"""The official FHIR R4 (4.0.1) definitions, packaged by `update.py`, loaded once."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import orjson

_HERE = Path(__file__).parent
FHIR_VERSION = "4.0.1"


@cache
def schema() -> dict:
    """The R4 JSON schema (draft-06), as published."""
    return orjson.loads(gzip.decompress((_HERE / "fhir.schema.json.gz").read_bytes()))


@cache
def search_parameters() -> tuple[dict, ...]:
    """Every SearchParameter of the R4 specification (trimmed to the fields we read)."""
    data = orjson.loads(gzip.decompress((_HERE / "search-parameters.json.gz").read_bytes()))
    return tuple(data["parameters"])


@cache
def resource_types() -> frozenset[str]:
    """All 146 R4 resource type names, from the schema's discriminator."""
    return frozenset(schema()["discriminator"]["mapping"])


@cache
def compartments() -> dict[str, dict[str, list[str]]]:
    """CompartmentDefinitions of R4: compartment -> resource type -> parameters that place it there."""
    return orjson.loads(gzip.decompress((_HERE / "compartments.json.gz").read_bytes()))


@cache
def summary_elements() -> dict[str, frozenset[str]]:
    """Top-level elements marked isSummary in R4's StructureDefinitions ("deceased[x]" for choices)."""
    data = orjson.loads(gzip.decompress((_HERE / "summary-elements.json.gz").read_bytes()))
    return {k: frozenset(v) for k, v in data.items()}


@cache
def bound_systems() -> dict[str, str]:
    """Element id (e.g. "Observation.status", "Address.use") -> the one code system its required
    binding allows: the implicit system of a `code` element in token search."""
    return orjson.loads(gzip.decompress((_HERE / "bound-systems.json.gz").read_bytes()))


@cache
def terminology() -> dict:
    """R4's own terminology: every complete CodeSystem (codes, parent -> children) and every
    ValueSet's compose, keyed by canonical URL."""
    return orjson.loads(gzip.decompress((_HERE / "terminology.json.gz").read_bytes()))
