"""A check: one named, spec-anchored assertion about a server, run only where the server
claims what it tests. Checks register themselves with `@check` when their group module loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from conformance.claims import ClaimTest
from conformance.client import Exchange, body

# A check takes a conformance.context.Context; typed Any here because the context module
# builds on this one (importing it back, even for typing only, would be a cycle).
CheckFn = Callable[[Any], None]

SPEC = "http://hl7.org/fhir/R4/"
PASSED, FAILED, NOT_CLAIMED = "passed", "failed", "not claimed"


class Failed(Exception):
    """The server did something the spec section forbids; `response` is the evidence."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.exchange = Exchange.of(response) if response is not None else None


class NotClaimed(Exception):
    """Found out only at run time: the server does not offer what the check needs (an optional
    behaviour such as `_total`); reported like a claim the CapabilityStatement does not make."""


@dataclass(frozen=True)
class Check:
    id: str                       # "rest.create": the group, a dot, the check's own name
    section: str                  # the page and anchor of the R4 spec it checks: "http.html#create"
    title: str
    run: CheckFn
    claim: ClaimTest | None = None

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass
class Result:
    check: Check
    status: str
    message: str = ""
    exchange: Exchange | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


REGISTRY: list[Check] = []


def check(check_id: str, section: str, claim: ClaimTest | None = None, title: str | None = None) -> Callable:
    """Register the decorated function as a check; its title is `title` or its docstring's first line."""
    def register(fn: CheckFn) -> CheckFn:
        if any(c.id == check_id for c in REGISTRY):
            raise ValueError(f"two checks named {check_id}")
        REGISTRY.append(Check(check_id, section, title or (fn.__doc__ or check_id).strip().splitlines()[0], fn,
                              claim))
        return fn
    return register


def expect(condition: bool, message: str, response: httpx.Response | None = None) -> None:
    if not condition:
        raise Failed(message, response)


def expect_status(response: httpx.Response, *codes: int) -> None:
    expect(response.status_code in codes,
           f"expected HTTP {' or '.join(map(str, codes))}, got {response.status_code}", response)


def expect_4xx_outcome(response: httpx.Response) -> None:
    expect(400 <= response.status_code < 500, f"expected a 4xx, got {response.status_code}", response)
    resource = body(response)
    expect(resource is not None and resource.get("resourceType") == "OperationOutcome",
           "the error's body is not an OperationOutcome", response)


def expect_resource(response: httpx.Response, resource_type: str) -> dict:
    resource = body(response)
    expect(resource is not None and resource.get("resourceType") == resource_type,
           f"the body is not a {resource_type}", response)
    return resource


def expect_ids(found: list[str], expected: set[str], what: str, response: httpx.Response | None = None) -> None:
    """Exactly the expected ids, each once."""
    duplicates = sorted({i for i in found if found.count(i) > 1})
    expect(not duplicates, f"{what}: returned more than once: {duplicates}", response)
    missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
    expect(not missing and not extra, f"{what}: missing {missing}, not expected {extra}", response)
