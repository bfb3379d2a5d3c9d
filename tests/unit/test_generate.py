"""The data generator: deterministic, valid, shaped like the seed."""

from __future__ import annotations

import hashlib

import orjson

from bench.generate import ORGS, generate
from fhirserver.validation import validate


def _digest(folder) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.ndjson")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(tmp_path / "a", 40, seed=3)
    generate(tmp_path / "b", 40, seed=3)
    generate(tmp_path / "c", 40, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_every_resource_is_valid_and_references_stay_in_its_organisation(tmp_path):
    counts = generate(tmp_path, 60, seed=1)
    assert counts["Patient"] == 60 and counts["Observation"] > 60 * 30
    for folder in sorted(p for p in tmp_path.iterdir()):
        known = set()
        lines = [orjson.loads(line) for t in ("Organization", "Location", "Practitioner", "Patient", "Encounter",
                                              "Observation", "Appointment", "MedicationRequest", "Claim",
                                              "AuditEvent")
                 for line in (folder / f"{t}.ndjson").read_bytes().splitlines()]
        for r in lines:
            validate(r, r["resourceType"])
            known.add(f"{r['resourceType']}/{r['id']}")
        refs = [v for r in lines for v in _references(r)]
        assert refs and all(ref in known for ref in refs), folder.name


def _references(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference":
                yield v
            else:
                yield from _references(v)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_patients_split_by_the_seed_ratio(tmp_path):
    generate(tmp_path, 400, seed=2)
    per_org = [len((tmp_path / slug / "Patient.ndjson").read_bytes().splitlines()) for slug, _, _ in ORGS]
    assert per_org == [200, 100, 60, 30, 10]
