"""Run the registered checks that were asked for, each isolated: an exception in one is that
check's failure, never the run's. Then remove what the run wrote."""

from __future__ import annotations

import time
import traceback

from conformance.checks import FAILED, NOT_CLAIMED, PASSED, REGISTRY, Check, Failed, NotClaimed, Result
from conformance.context import Context
from conformance.groups import GROUPS

# Types the suite writes, the referring ones first so that deleting them frees the others: a run
# starts by removing what a kept run with its seed left of these, and always ends with them.
WRITTEN_TYPES = ("Observation", "DiagnosticReport", "DocumentReference", "MedicationRequest", "Condition",
                 "AllergyIntolerance", "Immunization", "Procedure", "Goal", "CarePlan", "CareTeam", "Device",
                 "Encounter", "PractitionerRole", "Practitioner", "Organization", "Location", "Patient")


def selected(groups: tuple[str, ...]) -> list[Check]:
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown group(s) {', '.join(sorted(unknown))}; the groups are {', '.join(GROUPS)}")
    return sorted((c for c in REGISTRY if c.group in groups), key=lambda c: GROUPS.index(c.group))


def run_check(ctx: Context, check: Check) -> Result:
    reason = check.claim(ctx.claims) if check.claim else None
    if reason:
        return Result(check, NOT_CLAIMED, reason)
    started = time.monotonic()
    ctx.client.last = None
    try:
        check.run(ctx)
        result = Result(check, PASSED)
    except NotClaimed as exc:
        result = Result(check, NOT_CLAIMED, str(exc))
    except Failed as exc:
        result = Result(check, FAILED, str(exc), exc.exchange or ctx.client.last)
    except Exception as exc:   # a response the check could not even read is a failure too
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result = Result(check, FAILED, f"{type(exc).__name__}: {exc} (at {where.name}:{where.lineno})",
                        ctx.client.last)
    result.seconds = time.monotonic() - started
    return result


def remove_run_data(ctx: Context, types: list[str]) -> list[str]:
    """Delete every resource carrying this run's tag, of these types; the problems met, if any."""
    problems = []
    # Others the run made, the last made first (a resource is made after what it refers to).
    others = [t for t in reversed(list(dict.fromkeys(types))) if t not in WRITTEN_TYPES]
    ordered = others + [t for t in WRITTEN_TYPES if t in types]
    for _ in range(3):   # a delete refused while something still refers to it may pass next time
        left = 0
        for resource_type in ordered:
            if not {"search-type", "delete"} <= ctx.claims.interactions(resource_type):
                continue
            try:
                ids, _ = ctx.search_ids(resource_type, [("_count", "100")])
            except Failed as exc:
                problems.append(f"{resource_type}: cannot list the run's data: {exc}")
                continue
            for resource_id in dict.fromkeys(ids):
                response = ctx.client.delete(f"{resource_type}/{resource_id}")
                if response.status_code >= 300:
                    left += 1
                    problems.append(f"DELETE {resource_type}/{resource_id}: {response.status_code}")
        if not left:
            return []
    return problems
