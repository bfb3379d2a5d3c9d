"""The run's results as JUnit XML, JSON and Markdown, and the score per group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from conformance.checks import FAILED, NOT_CLAIMED, PASSED, SPEC, Result


@dataclass(frozen=True)
class Score:
    passed: int
    claimed: int          # passed + failed: what the server claims and the suite could test
    not_claimed: int

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.claimed if self.claimed else 100.0

    def __str__(self) -> str:
        return f"{self.passed}/{self.claimed} passed ({self.percent:.0f} %), {self.not_claimed} not claimed"


def scores(results: list[Result]) -> dict[str, Score]:
    """Per group, in run order, and "total"."""
    groups = list(dict.fromkeys(r.check.group for r in results))
    out = {g: _score([r for r in results if r.check.group == g]) for g in groups}
    out["total"] = _score(results)
    return out


def _score(results: list[Result]) -> Score:
    count = {s: sum(r.status == s for r in results) for s in (PASSED, FAILED, NOT_CLAIMED)}
    return Score(count[PASSED], count[PASSED] + count[FAILED], count[NOT_CLAIMED])


def _link(section: str) -> str:
    """A section of the R4 spec, or a page of another spec (US Core) named by its full address."""
    return section if section.startswith(("http://", "https://")) else SPEC + section


def _entry(r: Result) -> dict:
    return {"id": r.check.id, "group": r.check.group, "title": r.check.title, "section": _link(r.check.section),
            "status": r.status, "message": r.message, "seconds": round(r.seconds, 3),
            "request": {"method": r.exchange.method, "url": r.exchange.url} if r.exchange else None,
            "response": {"status": r.exchange.status, "excerpt": r.exchange.excerpt} if r.exchange else None}


def write_json(path: Path, results: list[Result], header: dict) -> None:
    body = {**header, "scores": {g: {"passed": s.passed, "claimed": s.claimed, "not_claimed": s.not_claimed,
                                     "percent": round(s.percent, 1)} for g, s in scores(results).items()},
            "checks": [_entry(r) for r in results]}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def write_junit(path: Path, results: list[Result]) -> None:
    root = ET.Element("testsuites", name="fhir-conformance")
    for group in dict.fromkeys(r.check.group for r in results):
        mine = [r for r in results if r.check.group == group]
        suite = ET.SubElement(root, "testsuite", name=group, tests=str(len(mine)),
                              failures=str(sum(r.status == FAILED for r in mine)),
                              skipped=str(sum(r.status == NOT_CLAIMED for r in mine)))
        for r in mine:
            case = ET.SubElement(suite, "testcase", classname=group, name=r.check.id, time=f"{r.seconds:.3f}")
            if r.status == FAILED:
                failure = ET.SubElement(case, "failure", message=r.message)
                failure.text = _evidence(r)
            elif r.status == NOT_CLAIMED:
                ET.SubElement(case, "skipped", message=f"not claimed: {r.message}")
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _evidence(r: Result) -> str:
    lines = [f"{r.check.title}", f"spec: {_link(r.check.section)}", f"why: {r.message}"]
    if r.exchange:
        lines += [f"request: {r.exchange.method} {r.exchange.url}", f"response: HTTP {r.exchange.status}",
                  f"body: {r.exchange.excerpt}"]
    return "\n".join(lines)


def write_markdown(path: Path, results: list[Result], header: dict) -> None:
    lines = [f"# FHIR R4 conformance: {header['base_url']}", "",
             f"Run `{header['run_id']}` (seed {header['seed']}), {header['started']}.", "",
             "| group | passed | claimed | score | not claimed |", "|---|---|---|---|---|"]
    for group, s in scores(results).items():
        lines.append(f"| {group} | {s.passed} | {s.claimed} | {s.percent:.0f} % | {s.not_claimed} |")
    failures = [r for r in results if r.status == FAILED]
    lines += ["", f"## Failures ({len(failures)})", ""]
    for r in failures:
        lines += [f"### `{r.check.id}`: {r.check.title}", "", f"- spec: [{r.check.section}]({_link(r.check.section)})",
                  f"- why: {r.message}"]
        if r.exchange:
            excerpt = r.exchange.excerpt.replace("`", "'")
            lines += [f"- request: `{r.exchange.method} {r.exchange.url}`",
                      f"- response: HTTP {r.exchange.status}: `{excerpt}`"]
        lines.append("")
    lines += ["## Not claimed", "", *[f"- `{r.check.id}`: {r.message}" for r in results if r.status == NOT_CLAIMED],
              "", "## Passed", "", *[f"- `{r.check.id}`: {r.check.title}" for r in results if r.status == PASSED], ""]
    path.write_text("\n".join(lines))
