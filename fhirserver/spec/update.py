"""Regenerate the packaged copies of the official FHIR R4 (4.0.1) data.

Run: python -m fhirserver.spec.update [SOURCE_DIR]   (default ../shared/spec)

The files are HL7's own (CC0); this script only trims fields the server never
reads and gzips them, so the project works without the shared folder. Never
edit the .json.gz files by hand.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
SEARCH_PARAM_FIELDS = (
    "id", "url", "code", "base", "type", "expression", "target", "modifier",
    "comparator", "component", "multipleOr", "multipleAnd", "chain", "xpathUsage",
)


def _write(name: str, data: object) -> None:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    (HERE / name).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


def main(source: Path) -> None:
    schema = json.loads((source / "fhir.schema.json").read_text())
    _write("fhir.schema.json.gz", schema)
    bundle = json.loads((source / "search-parameters.json").read_text())
    params = [
        {k: e["resource"][k] for k in SEARCH_PARAM_FIELDS if k in e["resource"]}
        for e in bundle["entry"]
    ]
    _write("search-parameters.json.gz", {"fhirVersion": "4.0.1", "parameters": params})
    print(f"wrote schema ({len(schema['definitions'])} definitions), {len(params)} search parameters")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / ".." / "shared" / "spec")
