"""What one caller may do: the principal a token names and the grants its scopes give,
turned into (a) yes/no per resource type and permission and (b) a search filter that
every row the caller sees must match.

The filter is how scopes are enforced: the search compiler ANDs it to every search,
chain, _has and include (searchparams/confine.py), and reads and writes check a
resource by searching for it under the filter. So what a token may see is decided in
one place, by the same code that answers searches, and no query parameter can remove it.

- `patient/` grants confine rows to the compartment of the token's `patient` claim (the
  R4 Patient CompartmentDefinition): a Patient by its id, other types by the parameters
  that place them in the compartment. Types outside that compartment match nothing.
- A v2 constraint (`patient/Observation.rs?category=laboratory`) is ANDed to its grant.
- Grants are ORed: any grant that covers the type and permission without a filter
  (a plain `user/` or `system/` grant) leaves the type unrestricted.
- `user/` acts for `fhirUser` within the token's organisation (the tenant). Care-team
  restrictions would be one more filter here, ORed per grant like the compartment.

Refusals: a permission the token lacks for a type is 403 (it says nothing about any one
resource); a resource outside the filter reads as 404, since 403 would confirm that it
exists (http.html: a server may hide a resource's existence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhirserver.auth.scopes import Grant, is_admin
from fhirserver.outcomes import Category, FhirError
from fhirserver.spec import compartments
from searchparams import ast
from searchparams.catalog import supported
from searchparams.parse import parse_filter

NOTHING: ast.Filter = ast.AnyOf(())   # the filter no row matches
_FAIL_CLOSED = (FhirError, ValueError, KeyError)   # a constraint the compiler cannot read grants nothing


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, from the token's claims (or the anonymous loopback caller)."""

    sub: str | None = None
    client_id: str | None = None
    fhir_user: str | None = None       # "Practitioner/123"
    patient: str | None = None         # the SMART launch context: a Patient id
    anonymous: bool = False
    issuer: str | None = None          # `iss`: a `sub` is unique only per issuer


@dataclass(eq=False)
class Access:
    """A caller's permissions. Filters are built once per (type, permissions) and kept:
    an Access lives as long as its token is remembered (fhirserver/auth/gate.py)."""

    principal: Principal
    grants: tuple[Grant, ...]
    _filters: dict[tuple[str, str], ast.Filter | None] = field(default_factory=dict)

    @classmethod
    def unrestricted(cls, principal: Principal) -> "Access":
        return cls(principal, (Grant("system", "*", frozenset("cruds")),))

    @property
    def admin(self) -> bool:
        return is_admin(self.grants)

    @property
    def reads_everything(self) -> bool:
        """Whether some grant reads every type with no filter (then chains need no check)."""
        return any(g.resource_type == "*" and g.context != "patient" and not g.constraint
                   and g.permissions & {"r", "s"} for g in self.grants)

    def _usable(self, g: Grant) -> bool:
        return g.context != "patient" or self.principal.patient is not None

    def allows(self, resource_type: str, permissions: str) -> bool:
        """Whether some grant gives any of `permissions` on the type (filters aside)."""
        return any(self._usable(g) and g.covers(resource_type, p) for g in self.grants for p in permissions)

    def require(self, resource_type: str, permissions: str) -> None:
        if not self.allows(resource_type, permissions):
            wanted = " or ".join(f"{resource_type}.{p}" for p in permissions)
            raise FhirError.of(Category.FORBIDDEN, "forbidden", "AUTH-SCOPE",
                               f"The token's scopes do not allow {wanted}")

    def require_admin(self) -> None:
        if not self.admin:
            raise FhirError.of(Category.FORBIDDEN, "forbidden", "AUTH-ADMIN",
                               "This operation needs the system/*.cud (or system/*.write) scope")

    def confinement(self, resource_type: str, permissions: str) -> ast.Filter | None:
        """None when the type is unrestricted for `permissions`; else the filter rows must
        match (NOTHING when no grant covers the type)."""
        key = (resource_type, permissions)
        if key not in self._filters:
            self._filters[key] = self._confinement(resource_type, permissions)
        return self._filters[key]

    def _confinement(self, resource_type: str, permissions: str) -> ast.Filter | None:
        alternatives: list[ast.Filter] = []
        for g in self.grants:
            if not self._usable(g) or not any(g.covers(resource_type, p) for p in permissions):
                continue
            f = self._grant_filter(g, resource_type)
            if f is None:
                return None
            alternatives.append(f)
        if not alternatives:
            return NOTHING
        return alternatives[0] if len(alternatives) == 1 else ast.AnyOf(tuple(alternatives))

    def _grant_filter(self, g: Grant, resource_type: str) -> ast.Filter | None:
        parts: list[ast.Filter] = []
        if g.context == "patient":
            parts.append(compartment_filter(resource_type, self.principal.patient))
        for key, value in g.constraint:
            try:
                parts.append(parse_filter(resource_type, key, value))
            except _FAIL_CLOSED:
                return NOTHING
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ast.AllOf(tuple(parts))


def compartment_filter(resource_type: str, patient_id: str) -> ast.Filter:
    """Rows of `resource_type` in Patient/{patient_id}'s compartment: the Patient itself by
    id (not the patients it links to), others by the compartment's parameters."""
    if resource_type == "Patient":
        return parse_filter("Patient", "_id", patient_id)
    codes = [c for c in compartments().get("Patient", {}).get(resource_type, ()) if c in supported(resource_type)]
    if not codes:
        return NOTHING
    clauses = tuple(parse_filter(resource_type, c, f"Patient/{patient_id}") for c in codes)
    return clauses[0] if len(clauses) == 1 else ast.AnyOf(clauses)
