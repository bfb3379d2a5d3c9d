"""Golden tests of the search compiler, stage by stage (in the spirit of SQLAlchemy's assert_compile).

For each search in SEARCHES, tests/unit/golden/<name>.txt pins what the search handler
(fhirserver/interactions/search.py) would compile through searchparams/pipeline.py's
stages, without a database:
the URL; the parsed AST (`str(search)`, plus the result parameters, which Search.__str__
leaves out); the compiler's plan; the full SQL text of the page statement and its
parameters; and, where the handler also counts (`_total=accurate`, `_summary=count`),
the count's plan, SQL and parameters. Any change to generated SQL is a diff of these files.

After an intended change, regenerate them and review their diff like code:

    GOLDEN_UPDATE=1 .venv/bin/python -m pytest -q tests/unit/test_golden_pipeline.py -p no:cacheprovider

The SQL is wrapped for reading: a line break (and indentation by bracket depth) replaces
one space before FROM, WHERE, AND, JOIN, ORDER BY and LIMIT. Compiled SQL has no newlines
(asserted), so unwrapping gives back the exact text and the file still pins it exactly.

Fixed inputs, so the files depend on the compiler only: org 7; "now" (read by the `ap`
prefix, searchparams/kinds/date._widen) is NOW; the tenant's month partitions, which
pipeline.page_statement reads from the catalog, are MONTHS. _include/_revinclude run as
separate statements (pipeline.includes) against the page's rows, so only their AST is pinned.
"""

from __future__ import annotations

import os
import pprint
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from mappings import MAPPINGS
from searchparams import pipeline
from searchparams.cursor import encode_token
from searchparams.kinds import date as date_kind
from searchparams.sqlgen.select import Compiled

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"
ORG = 7
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
MONTHS = [datetime(2020, m, 1, tzinfo=timezone.utc) for m in range(1, 13)]

# name -> (resource type, query, page cursor as the server issues it or None)
SEARCHES: dict[str, tuple[str, str, object]] = {
    "patient-identifier-system-code": ("Patient", "identifier=http://hospital.example/mrn|12345", None),
    "patient-identifier-code-only": ("Patient", "identifier=12345", None),
    "patient-gender-not": ("Patient", "gender:not=male", None),
    "patient-birthdate-missing": ("Patient", "birthdate:missing=true", None),
    "patient-email-missing-false": ("Patient", "email:missing=false", None),
    "observation-code-text": ("Observation", "code:text=glucose", None),
    "patient-family-default": ("Patient", "family=Smith", None),
    "patient-family-exact": ("Patient", "family:exact=Smith", None),
    "patient-name-contains": ("Patient", "name:contains=mit", None),
    "patient-birthdate-eq-day": ("Patient", "birthdate=1970-01-01", None),
    "observation-date-ge-year": ("Observation", "date=ge2020", None),
    "observation-date-lt-month": ("Observation", "date=lt2020-06", None),
    "observation-date-ap-day": ("Observation", "date=ap2020-03-15", None),
    "encounter-date-sa-instant": ("Encounter", "date=sa2020-03-01T10:00:00Z", None),
    "claim-created-eq-month": ("Claim", "created=2020-02", None),
    "auditevent-date-eq-second": ("AuditEvent", "date=2020-05-01T12:00:00Z", None),
    "observation-subject-plain": ("Observation", "subject=Patient/p1", None),
    "observation-subject-typed": ("Observation", "subject:Patient=p1", None),
    "observation-subject-chained": ("Observation", "subject.name=smith", None),
    "encounter-patient-typed-chain": ("Encounter", "subject:Patient.birthdate=1970", None),
    "patient-has-observation-code": ("Patient", "_has:Observation:patient:code=http://loinc.org|2345-7", None),
    "observation-value-quantity": ("Observation", "value-quantity=gt5.4|http://unitsofmeasure.org|mg", None),
    "observation-code-value-quantity": ("Observation", "code-value-quantity=http://loinc.org|8480-6$gt140", None),
    "patient-id-two": ("Patient", "_id=p1,p2", None),
    "observation-id": ("Observation", "_id=o1", None),
    "patient-lastupdated-ge": ("Patient", "_lastUpdated=ge2024-01-01T00:00:00Z", None),
    "patient-sort-desc-count": ("Patient", "gender=female&_sort=-birthdate,family&_count=10", None),
    "encounter-patient-sort-date-desc": ("Encounter", "patient=p1&_sort=-date&_count=20", None),
    "medicationrequest-patient-status": ("MedicationRequest", "patient=p1&status=active", None),
    "medicationrequest-include": ("MedicationRequest", "patient=p1&_include=MedicationRequest:medication", None),
    "patient-revinclude": ("Patient", "_id=p1&_revinclude=Observation:patient", None),
    "uscore-observation-lab": ("Observation", "patient=X&category=laboratory&date=ge2020", None),
    "uscore-observation-vitals-codes": ("Observation", "patient=X&code=http://loinc.org|8867-4,"
                                        "http://loinc.org|9279-1", None),
    "uscore-encounter-patient-date": ("Encounter", "patient=X&date=ge2020-01-01&date=lt2020-07-01", None),
    "uscore-claim-patient-status": ("Claim", "patient=X&status=active", None),
    "auditevent-agent-date": ("AuditEvent", "agent=Practitioner/pr1&date=ge2020-06-01", None),
    "observation-total-accurate": ("Observation", "code=http://loinc.org|2345-7&_total=accurate", None),
    "patient-summary-count": ("Patient", "gender=female&_summary=count", None),
    "patient-sorted-next-page": ("Patient", "gender=female&_sort=-birthdate&_count=10", [{"d": "1970-01-01"}, "p9"]),
    "observation-months-next-page": ("Observation", "patient=X&_count=10",
                                     [{"ts": "2020-03-10T08:00:00+00:00"}, "o9"]),
    "observation-months-previous-page": ("Observation", "patient=X&_count=10",
                                         {"before": [{"ts": "2020-03-10T08:00:00+00:00"}, "o9"]}),
}


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW.astimezone(tz)


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    # The date kind reads the clock through its module-level name `datetime` (only for `ap`).
    monkeypatch.setattr(date_kind, "datetime", _FixedClock)


_BREAK = re.compile(r"(?<!CROSS) (?=(?:FROM|WHERE|AND|JOIN|CROSS JOIN|ORDER BY|LIMIT)\b)")


def wrap(sql: str) -> str:
    assert "\n" not in sql   # what makes the wrapping reversible, so the text stays pinned exactly
    out, depth, last = [], 0, 0
    for m in _BREAK.finditer(sql):
        chunk = sql[last:m.start()]
        depth += chunk.count("(") - chunk.count(")")
        out += [chunk, "\n" + "  " * (depth + 1)]
        last = m.end()
    wrapped = "".join(out) + sql[last:]
    assert re.sub(r"\n *", " ", wrapped) == sql
    return wrapped


def statement(title: str, q: Compiled) -> list[str]:
    # Every value is a parameter and every parameter is used: $1..$n and nothing else.
    assert {int(n) for n in re.findall(r"\$(\d+)", q.sql)} == set(range(1, len(q.params) + 1))
    params = [f"${i} = {pprint.pformat(v, width=100)}" for i, v in enumerate(q.params, 1)]
    return [f"== {title}plan ==", str(q.plan), f"== {title}SQL ==", wrap(q.sql), f"== {title}parameters ==", *params]


def render(type_name: str, query: str, cursor_value: object) -> str:
    """The golden text of one search, through the same calls as the search handler."""
    m = MAPPINGS[type_name]
    items = parse_qsl(query, keep_blank_values=True)
    if cursor_value is not None:
        items.append(("_cursor", encode_token(cursor_value)))
    request = pipeline.SearchRequest(m, ORG, tuple(items), strict=True)
    search = pipeline.parse_request(request)
    validated = pipeline.validate(request, search)
    lines = [f"GET {type_name}?{query}"]
    if cursor_value is not None:
        lines.append(f"cursor: {cursor_value}")
    lines += ["== AST ==", str(search), f"count {search.count}",
              f"sort {' '.join(str(k) for k in search.sort) or '-'}",
              f"includes {' '.join(str(i) for i in search.includes) or '-'}",
              f"summary {search.summary or '-'} total {search.total}"]
    if search.summary == "count" or search.total == "accurate":
        lines += statement("count ", pipeline.count_sql(validated))
    if search.summary != "count":
        months = MONTHS if m.time_partitioned else None   # as execute.tenant_months gives them
        lines += statement("", pipeline.to_sql(validated, pipeline.plan(validated, months)))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_golden(name: str) -> None:
    got = render(*SEARCHES[name])
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"no golden file {path}: run with GOLDEN_UPDATE=1 to write it"
    expected = path.read_text()
    assert got == expected   # pytest's diff: "-" lines are the golden file's, "+" the compiler's


def test_no_stale_golden_files() -> None:
    """A search taken out of SEARCHES takes its golden file with it."""
    assert {p.stem for p in GOLDEN.glob("*.txt")} == set(SEARCHES)
