"""Our server passes the conformance suite, run as any validator would run it: `python -m
conformance BASE_URL` in its own process, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

# Checks our server is known to fail, each with the defect it shows (request, expected per the
# spec, actual). The suite fails them against any server; only this test expects it, and fails
# as soon as one passes, so that the entry is removed with the fix.
KNOWN_DEFECTS: dict[str, str] = {}


def _conformance(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


def test_our_server_passes_everything_it_claims(our_server, tmp_path):
    run = _conformance("conformance", our_server, "--report", str(tmp_path), "--seed", "19")
    results = json.loads((tmp_path / "results.json").read_text())
    failed = {c["id"]: c for c in results["checks"] if c["status"] == "failed"}
    assert set(failed) == set(KNOWN_DEFECTS), json.dumps(list(failed.values()), indent=2) + run.stdout
    if not KNOWN_DEFECTS:
        assert run.returncode == 0, run.stdout + run.stderr
        assert results["scores"]["total"]["percent"] == 100.0
    assert results["scores"]["total"]["claimed"] >= 95, "most of the suite ran"
    assert set(results["scores"]) == {"capabilities", "search", "rest", "history", "patch", "errors", "bundles",
                                      "uscore", "total"}
    assert "total:" in run.stdout
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert sum(int(s.get("tests")) for s in junit) == len(results["checks"])
    assert "| total |" in (tmp_path / "report.md").read_text()


def test_it_leaves_nothing_behind_unless_kept(our_server, tmp_path):
    import httpx
    run = _conformance("conformance", our_server, "--only", "rest", "--report", str(tmp_path), "--seed", "7",
                       "--keep")
    run_id = json.loads((tmp_path / "results.json").read_text())["run_id"]
    tag = ("_tag", f"urn:fhir-conformance:run|{run_id}")
    kept = httpx.get(f"{our_server}/Patient", params=[tag, ("_summary", "count")]).json()["total"]
    assert kept > 0, run.stdout
    again = _conformance("conformance", our_server, "--only", "rest", "--report", str(tmp_path), "--seed", "7")
    assert again.returncode == 0, again.stdout + again.stderr   # the same seed reruns over its own leftovers
    assert httpx.get(f"{our_server}/Patient", params=[tag, ("_summary", "count")]).json()["total"] == 0


def test_the_fhirserver_command_runs_the_suite(our_server, tmp_path):
    run = _conformance("fhirserver", "conformance", our_server, "--only", "capabilities", "--report", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "capabilities: 5/5 passed" in run.stdout
    assert json.loads((tmp_path / "results.json").read_text())["groups"] == ["capabilities"]


def test_an_unknown_group_is_refused(tmp_path):
    run = _conformance("conformance", "http://127.0.0.1:9/none", "--only", "rest,nonsense")
    assert run.returncode == 2 and "nonsense" in run.stderr
