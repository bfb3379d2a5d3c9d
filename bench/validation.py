"""Which R4 validator to use: measured on real Synthea resources.

Compares, per resource: jsonschema-rs (Rust) and jsonschema (Python) against the official
R4 JSON schema, and fhir.resources' R4B pydantic models (R4B equals R4 for the types we
store). Run: .venv/bin/python bench/validation.py [SYNTHEA_DIR]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jsonschema  # noqa: E402
import jsonschema_rs  # noqa: E402

from fhirserver import spec  # noqa: E402

TYPES = ("Patient", "Encounter", "Observation", "MedicationRequest", "Claim")


def resources(folder: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {t: [] for t in TYPES}
    for path in sorted(folder.glob("*.json"))[:10]:
        for entry in json.loads(path.read_text())["entry"]:
            r = entry["resource"]
            if r["resourceType"] in found and len(found[r["resourceType"]]) < 200:
                found[r["resourceType"]].append(r)
    return found


def per_call_us(fn, items: list[dict], rounds: int = 3) -> float:
    best = []
    for _ in range(rounds):
        t = time.perf_counter()
        for item in items:
            fn(item)
        best.append((time.perf_counter() - t) / len(items) * 1e6)
    return min(best)


def main(folder: Path) -> None:
    schema = spec.schema()
    samples = resources(folder)
    print("| type | n | jsonschema-rs us | jsonschema us | fhir.resources R4B us |")
    print("|---|---:|---:|---:|---:|")
    for kind, items in samples.items():
        sub = {"definitions": schema["definitions"], "$ref": f"#/definitions/{kind}"}
        rs = jsonschema_rs.Draft6Validator(sub)
        py = jsonschema.Draft6Validator(sub)
        model = getattr(__import__(f"fhir.resources.R4B.{kind.lower()}", fromlist=[kind]), kind)
        assert all(rs.is_valid(i) for i in items)
        cells = [per_call_us(rs.is_valid, items), per_call_us(py.is_valid, items[:30], 2),
                 per_call_us(model.model_validate, items[:30], 2)]
        print(f"| {kind} | {len(items)} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    rs_times = [per_call_us(jsonschema_rs.Draft6Validator(
        {"definitions": schema["definitions"], "$ref": f"#/definitions/{k}"}).is_valid, v) for k, v in samples.items()]
    print(f"(median of the types' jsonschema-rs times: {statistics.median(rs_times):.1f} us)")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "synthea"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
