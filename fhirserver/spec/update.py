"""Regenerate the packaged copies of the official FHIR R4 (4.0.1) data.

Run: python -m fhirserver.spec.update [SOURCE_DIR] [EXAMPLES_TGZ]
  SOURCE_DIR    holds fhir.schema.json and search-parameters.json (default ../shared/spec)
  EXAMPLES_TGZ  the npm package hl7.fhir.r4.examples@4.0.1 (`npm pack hl7.fhir.r4.examples@4.0.1`),
                for the compartment definitions, the isSummary flags of every resource, the
                code system of each `code` element with a required binding to a one-system value set,
                and the terminology of token :above/:below/:in/:not-in (every complete CodeSystem's
                codes and is-a hierarchy, every ValueSet's compose)

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


def _from_examples(tgz: Path) -> None:
    import tarfile
    with tarfile.open(tgz) as archive:
        def load(name: str) -> dict:
            return json.load(archive.extractfile(f"package/{name}"))
        compartments = {}
        for code in ("patient", "encounter", "practitioner", "relatedPerson", "device"):
            cd = load(f"CompartmentDefinition-{code}.json")
            compartments[cd["code"]] = {r["code"]: r["param"] for r in cd["resource"] if r.get("param")}
        value_sets = {}
        for entry in load("Bundle-valuesets.json")["entry"]:
            vs = entry["resource"]
            if vs.get("resourceType") == "ValueSet":
                value_sets[vs["url"]] = {i["system"] for i in vs.get("compose", {}).get("include", ())
                                         if i.get("system")}
        bound = {}
        for bundle in ("Bundle-resources.json", "Bundle-types.json"):
            for entry in load(bundle)["entry"]:
                sd = entry["resource"]
                if sd.get("resourceType") != "StructureDefinition":
                    continue
                for el in sd.get("snapshot", {}).get("element", ()):
                    binding = el.get("binding", {})
                    systems = value_sets.get(binding.get("valueSet", "").split("|")[0], set())
                    if binding.get("strength") == "required" and len(systems) == 1 and \
                            any(t.get("code") == "code" for t in el.get("type", ())):
                        bound[el["id"]] = next(iter(systems))
        summary = {}
        for entry in load("Bundle-resources.json")["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource":
                continue
            summary[sd["type"]] = sorted(
                el["path"].split(".", 1)[1] for el in sd["snapshot"]["element"]
                if el["path"].count(".") == 1 and el.get("isSummary"))
        _write("terminology.json.gz", _terminology(archive, load))
    _write("compartments.json.gz", compartments)
    _write("bound-systems.json.gz", bound)
    _write("summary-elements.json.gz", summary)
    print(f"wrote {len(compartments)} compartments, summary elements of {len(summary)} resource types, "
          f"the code systems of {len(bound)} required code bindings")


def _code_system(cs: dict) -> dict:
    """Codes in definition order and parent -> children, from nesting and the `child` property."""
    codes: list[str] = []
    children: dict[str, list[str]] = {}

    def walk(concepts: list[dict], parent: str | None) -> None:
        for c in concepts:
            codes.append(c["code"])
            if parent is not None:
                children.setdefault(parent, []).append(c["code"])
            for prop in c.get("property", ()):
                if prop.get("code") == "child" and "valueCode" in prop:
                    children.setdefault(c["code"], []).append(prop["valueCode"])
            walk(c.get("concept", ()), c["code"])
    walk(cs.get("concept", ()), None)
    out = {"codes": codes, "children": children}
    if cs.get("hierarchyMeaning"):
        out["hierarchyMeaning"] = cs["hierarchyMeaning"]
    return out


def _compose_part(part: dict) -> dict:
    keep = {k: part[k] for k in ("system", "version", "filter", "valueSet") if k in part}
    if "concept" in part:
        keep["concept"] = [c["code"] for c in part["concept"]]
    return keep


def _terminology(archive, load) -> dict:
    """Complete CodeSystems (fragments and examples cannot answer "every code" or "below"), and
    the compose of every ValueSet: expanded by searchparams/terminology.py when searched."""
    systems, value_sets = {}, {}
    for name in sorted(archive.getnames()):
        base = name.rsplit("/", 1)[-1]
        if base.startswith("CodeSystem-") and base.endswith(".json"):
            cs = load(base)
            if cs.get("content") == "complete":
                systems[cs["url"]] = _code_system(cs)
        elif base.startswith("ValueSet-") and base.endswith(".json"):
            vs = load(base)
            if "compose" in vs:
                value_sets[vs["url"]] = {k: [_compose_part(p) for p in vs["compose"].get(k, ())]
                                         for k in ("include", "exclude") if vs["compose"].get(k)}
    print(f"terminology: {len(systems)} complete code systems, {len(value_sets)} value sets")
    return {"codeSystems": systems, "valueSets": value_sets}


def main(source: Path, examples: Path | None = None) -> None:
    schema = json.loads((source / "fhir.schema.json").read_text())
    _write("fhir.schema.json.gz", schema)
    bundle = json.loads((source / "search-parameters.json").read_text())
    params = [
        {k: e["resource"][k] for k in SEARCH_PARAM_FIELDS if k in e["resource"]}
        for e in bundle["entry"]
    ]
    _write("search-parameters.json.gz", {"fhirVersion": "4.0.1", "parameters": params})
    print(f"wrote schema ({len(schema['definitions'])} definitions), {len(params)} search parameters")
    if examples is not None:
        _from_examples(examples)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / ".." / "shared" / "spec",
         Path(sys.argv[2]) if len(sys.argv) > 2 else None)
