"""A new search modifier is a change to one class: here a made-up token modifier, `:starts`
(the code begins with the value), is added by subclassing the token kind in this test
alone, and the parser, the SQL compiler and the CapabilityStatement all follow it."""

from __future__ import annotations

import uuid

import orjson
import pytest

from conformance.capability import _search_params
from searchparams import ast, kinds
from searchparams.kinds.base import OWN, Cols, Params, prefix_match
from searchparams.kinds.token import Token


class StartsToken(Token):
    modifiers = Token.modifiers | {"starts"}

    def match(self, prm, v: ast.Value, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        if modifier == "starts":
            return prefix_match(col("code"), v.code, p)
        return super().match(prm, v, modifier, p, col)


async def _chart(fhir) -> tuple[str, str]:
    system = f"urn:test:starts:{uuid.uuid4()}"
    r = await fhir.post("/Patient", content=orjson.dumps({"resourceType": "Patient", "gender": "other"}))
    patient = r.json()["id"]
    for code in ("ab-1", "ab-2", "ax-3"):
        obs = {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient}"},
               "code": {"coding": [{"system": system, "code": code}]}}
        assert (await fhir.post("/Observation", content=orjson.dumps(obs))).status_code == 201
    return patient, system


def _codes(bundle: dict) -> list[str]:
    return sorted(e["resource"]["code"]["coding"][0]["code"] for e in bundle.get("entry", ()))


async def test_a_modifier_added_to_the_token_kind_is_parsed_compiled_and_published(fhir, monkeypatch):
    patient, _ = await _chart(fhir)
    query = f"/Observation?subject=Patient/{patient}&code:starts=ab"

    refused = await fhir.get(query, headers={"Prefer": "handling=strict"})
    assert refused.status_code == 400 and "SP-MODIFIER" in refused.text

    monkeypatch.setitem(kinds.REGISTRY, "token", StartsToken())
    found = await fhir.get(query, headers={"Prefer": "handling=strict"})
    assert found.status_code == 200, found.text
    assert _codes(found.json()) == ["ab-1", "ab-2"]
    code = next(p for p in _search_params("Observation") if p["name"] == "code")
    assert ":starts" in code["documentation"]


async def test_without_it_the_same_search_leniently_ignores_the_modifier(fhir):
    patient, _ = await _chart(fhir)
    r = await fhir.get(f"/Observation?subject=Patient/{patient}&code:starts=ab")
    assert r.status_code == 200
    assert _codes(r.json()) == ["ab-1", "ab-2", "ax-3"]
    assert "code:starts" not in r.json()["link"][0]["url"]


@pytest.fixture(autouse=True)
def _registry_is_restored():
    yield
    assert type(kinds.REGISTRY["token"]) is Token
