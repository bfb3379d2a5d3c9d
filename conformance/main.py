"""`python -m conformance BASE_URL`: run the suite against any FHIR R4 server, write the
reports, print the scores; exit 0 when everything the server claims passed, else 1."""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

from conformance import report
from conformance.checks import FAILED, Result
from conformance.claims import Claims
from conformance.client import Client, body
from conformance.context import Context
from conformance.groups import GROUPS
from conformance.runner import WRITTEN_TYPES, remove_run_data, run_check, selected


@dataclass(frozen=True)
class Options:
    base_url: str
    token: str | None = None
    groups: tuple[str, ...] = GROUPS
    report_dir: Path = Path("conformance-report")
    seed: int | None = None
    keep: bool = False


@dataclass(frozen=True)
class Outcome:
    results: list[Result]
    run_id: str
    seed: int
    cleanup_problems: list[str]

    @property
    def all_passed(self) -> bool:
        return not any(r.status == FAILED for r in self.results)


def _claims(client: Client) -> Claims:
    """The statement, or an empty one: then every check but the capabilities group is "not
    claimed", and the capabilities group says why."""
    try:
        response = client.get("metadata")
    except httpx.HTTPError:
        return Claims({})
    statement = body(response) if response.status_code == 200 else None
    return Claims(statement if statement and statement.get("resourceType") == "CapabilityStatement" else {})


def run_suite(options: Options, transport: httpx.BaseTransport | None = None, echo=print) -> Outcome:
    """Run the selected groups and write junit.xml, results.json and report.md into options.report_dir.
    `transport` replaces the network (tests put a fault-injecting one between the suite and a server)."""
    checks = selected(options.groups)
    seed = options.seed if options.seed is not None else secrets.randbelow(10 ** 9)
    client = Client(options.base_url, options.token, transport)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        ctx = Context(client, _claims(client), seed)
        echo(f"conformance run {ctx.run_id} (seed {seed}) against {options.base_url}")
        remove_run_data(ctx, list(WRITTEN_TYPES))   # what a kept earlier run with this seed left
        results = []
        for check in checks:
            results.append(run_check(ctx, check))
            if results[-1].status == FAILED:
                echo(f"  FAILED {check.id}: {results[-1].message}")
        problems = [] if options.keep else remove_run_data(ctx, [*WRITTEN_TYPES, *ctx.created_types])
    finally:
        client.close()
    header = {"base_url": options.base_url, "run_id": ctx.run_id, "seed": seed, "started": started,
              "groups": list(options.groups)}
    options.report_dir.mkdir(parents=True, exist_ok=True)
    report.write_junit(options.report_dir / "junit.xml", results)
    report.write_json(options.report_dir / "results.json", results, header)
    report.write_markdown(options.report_dir / "report.md", results, header)
    for group, score in report.scores(results).items():
        echo(f"{group:>13}: {score}")
    for problem in problems:
        echo(f"cleanup: {problem}")
    return Outcome(results, ctx.run_id, seed, problems)


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m conformance",
                                     description="Black-box FHIR R4 conformance suite, driven by the server's "
                                                 "CapabilityStatement.")
    parser.add_argument("base_url", help="the FHIR base, e.g. http://localhost:8080/fhir")
    parser.add_argument("--token", help="bearer token sent with every request")
    parser.add_argument("--only", help=f"comma-separated groups: {','.join(GROUPS)}")
    parser.add_argument("--report", default="conformance-report", help="report directory (default %(default)s)")
    parser.add_argument("--seed", type=int, help="makes the run id and the data the same again (default random)")
    parser.add_argument("--keep", action="store_true", help="leave the data the run created on the server")
    args = parser.parse_args(argv)
    groups = tuple(g.strip() for g in args.only.split(",") if g.strip()) if args.only else GROUPS
    try:
        selected(groups)
    except ValueError as exc:
        parser.error(str(exc))
    return Options(args.base_url, args.token, groups, Path(args.report), args.seed, args.keep)


def main(argv: list[str] | None = None) -> int:
    outcome = run_suite(parse(argv))
    return 0 if outcome.all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
