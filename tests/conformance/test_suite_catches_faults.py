"""The suite fails a broken server: each fault, put between the suite and our real server,
makes the check that covers it fail."""

from __future__ import annotations

import pytest

from conformance.main import Options, run_suite
from tests.conformance import faults

CASES = [
    # fault, the groups to run, the check that must fail, words its message must hold
    (faults.drop_etag, "rest", "rest.create", "ETag"),
    (faults.drop_one_search_entry, "search", "search.paging", "missing"),
    (faults.repeat_page_on_next, "search", "search.paging", "more than once"),
    (faults.malformed_json_accepted, "errors", "errors.malformed-json", "4xx"),
    (faults.date_gt_one_too_many, "search", "search.date.gt", "not expected"),
    (faults.drop_included, "search", "search.include", "search.mode=include entries: missing"),
    (faults.drop_included, "search", "search.revinclude", "search.mode=include entries: missing"),
    (faults.history_oldest_first, "history", "history.instance", "request.method"),
    (faults.sort_ignored_within_page, "search", "search.sort.ascending", "in the order"),
    (faults.drop_one_search_entry, "uscore", "uscore.observation-lab.patient+category", "missing"),
    (faults.date_ge_as_gt, "uscore", "uscore.condition.patient+onset-date-ge", "missing"),
]


@pytest.mark.parametrize(("fault", "groups", "check_id", "words"), CASES,
                         ids=[f"{c[0].__name__}-{c[2]}" for c in CASES])
def test_the_fault_fails_its_check(our_server, tmp_path, fault, groups, check_id, words):
    transport = faults.FaultyTransport(fault)
    options = Options(our_server, groups=(groups,), report_dir=tmp_path, seed=100 + CASES.index(
        (fault, groups, check_id, words)))
    outcome = run_suite(options, transport=transport, echo=lambda *_: None)
    assert transport.applied > 0, "the fault never applied: the test proves nothing"
    by_id = {r.check.id: r for r in outcome.results}
    assert by_id[check_id].status == "failed", by_id[check_id]
    assert words in by_id[check_id].message
    assert not outcome.all_passed


def test_without_a_fault_the_same_runs_pass(our_server, tmp_path):
    """The control: the transport itself, passing answers through untouched, spoils nothing."""
    transport = faults.FaultyTransport(lambda request, response, _: response)
    outcome = run_suite(Options(our_server, groups=("rest", "search", "errors", "history", "patch", "uscore"),
                                report_dir=tmp_path, seed=5),
                        transport=transport, echo=lambda *_: None)
    assert [r.check.id for r in outcome.results if r.status == "failed"] == []


def test_a_check_runs_once_the_statement_claims_it(our_server, tmp_path):
    """Chaining is tested only where claimed: ours says so and passes the check; the same
    server with the claim taken out of its statement is reported "not claimed"."""
    plain = run_suite(Options(our_server, groups=("search",), report_dir=tmp_path, seed=11), echo=lambda *_: None)
    assert {r.check.id: r.status for r in plain.results}["search.reference.chain"] == "passed"
    transport = faults.FaultyTransport(faults.unclaim_chaining)
    unclaimed = run_suite(Options(our_server, groups=("search",), report_dir=tmp_path, seed=12), transport=transport,
                          echo=lambda *_: None)
    assert transport.applied == 1
    assert {r.check.id: r.status for r in unclaimed.results}["search.reference.chain"] == "not claimed"


def test_includes_and_patch_are_tested_only_where_listed(our_server, tmp_path):
    """_include and _revinclude count as claimed only where searchInclude / searchRevInclude list
    them, patch only in the formats patchFormat lists."""
    transport = faults.FaultyTransport(faults.unclaim_includes)
    outcome = run_suite(Options(our_server, groups=("search", "patch"), report_dir=tmp_path, seed=13),
                        transport=transport, echo=lambda *_: None)
    assert transport.applied > 0
    status = {r.check.id: r.status for r in outcome.results}
    for check_id in ("search.include", "search.revinclude", "search.include-iterate", "patch.json-patch",
                     "patch.merge-patch", "patch.failed-test", "patch.if-match-stale"):
        assert status[check_id] == "not claimed", check_id
    assert status["search.has"] == "passed"   # claimed by the reference parameter's documentation
