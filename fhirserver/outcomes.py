"""Errors as values: one exception type, one mapping to HTTP status, one OperationOutcome shape.

Interactions raise `FhirError`; only the dispatcher (`fhirserver/routes.py`, and a Bundle's
entries in `interactions/bundle.py`) turns it into a response.
Every issue carries a stable message code (`details.coding`) so clients can
match on it rather than on wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

CODE_SYSTEM = "urn:fhirserver:message-code"


class Category(Enum):
    """What went wrong, from the client's point of view; the value is the HTTP status."""

    INCORRECT = 400
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    NOT_ALLOWED = 405
    NOT_ACCEPTABLE = 406
    CONFLICT = 409
    GONE = 410
    PRECONDITION = 412
    TOO_LARGE = 413
    UNSUPPORTED_MEDIA = 415
    UNPROCESSABLE = 422
    TOO_MANY = 429
    FAULT = 500
    UNAVAILABLE = 503


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue. `code` is from the FHIR IssueType value set."""

    code: str
    diagnostics: str
    msg: str                                   # our stable message code, e.g. "RES-BODY-JSON"
    expression: tuple[str, ...] = ()
    severity: str = "error"

    def to_json(self) -> dict:
        issue: dict = {
            "severity": self.severity,
            "code": self.code,
            "details": {"coding": [{"system": CODE_SYSTEM, "code": self.msg}]},
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


@dataclass
class FhirError(Exception):
    """The one exception interactions raise; rendered as an OperationOutcome."""

    category: Category
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, category: Category, code: str, msg: str, diagnostics: str,
           expression: tuple[str, ...] = ()) -> "FhirError":
        return cls(category, [Issue(code, diagnostics, msg, expression)])

    @property
    def status(self) -> int:
        return self.category.value

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: list[Issue]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def information(diagnostics: str, msg: str) -> dict:
    """An informational OperationOutcome (Prefer: return=OperationOutcome, successful delete)."""
    return operation_outcome([Issue("informational", diagnostics, msg, severity="information")])


# Shorthands for the errors raised in many places.
def not_found(resource_type: str, id_: str) -> FhirError:
    return FhirError.of(Category.NOT_FOUND, "not-found", "RES-NOT-FOUND",
                        f"Resource {resource_type}/{id_} is not known")


def gone(resource_type: str, id_: str, version: int) -> FhirError:
    err = FhirError.of(Category.GONE, "deleted", "RES-DELETED",
                       f"Resource {resource_type}/{id_} was deleted (version {version})")
    err.headers["ETag"] = f'W/"{version}"'
    return err


def invalid(diagnostics: str, msg: str, expression: tuple[str, ...] = (), code: str = "invalid") -> FhirError:
    return FhirError.of(Category.INCORRECT, code, msg, diagnostics, expression)
