"""Which R4 search parameters the server supports, how each is indexed, and why some are not.

Every parameter the official definitions list for a stored type (and the common ones)
is either supported, with an index `kind`, or declared unsupported with a reason; the
CapabilityStatement publishes both, and a test checks nothing falls between.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhirserver.spec import bound_systems
from searchparams import phonetic
from searchparams.fhirpath import (
    Path,
    Unsupported,
    compile_expression,
    resolve_types,
    terminal_elements,
    terminal_types,
)
from searchparams.kinds import REGISTRY, TABLES, IndexKind
from searchparams.registry import SearchParamDef, params_for

# Answered from columns every resource table has, so never written to side tables.
MAIN_COLUMNS = {"_id": "id", "_lastUpdated": "last_updated"}

# Parameters indexed by a kind other than their R4 type's (searchparams/kinds/__init__.py).
SPECIAL_KINDS = {("Patient", "deceased"): "deceased"}   # a boolean test: written by hand
OWN_KINDS = {phonetic.CODE: "phonetic"}                 # a string in R4, keyed by sound here

NOT_SUPPORTED = {
    "_content": "full-text search over the whole resource is not implemented",
    "_text": "full-text search over the narrative is not implemented",
    "_query": "no named queries are defined",
}

# The server writes an AuditEvent for every access to health data, so each index row of one
# is paid on every request. Its searches are the ones IHE BALP's queries use: who (agent),
# what (entity, patient), when (date), which interaction (type, subtype, action) and how it
# ended (outcome). The rest are not indexed: `site` and `source` name this server, the same
# on every event of a tenant; the others (the client's address, names, roles) narrow an
# answer those searches already found, and a reader filters it.
_AUDIT_UNINDEXED = "not indexed: the server writes an AuditEvent per access, and each parameter adds to its cost"
NOT_INDEXED: dict[str, dict[str, str]] = {"AuditEvent": dict.fromkeys(
    ("address", "agent-name", "agent-role", "altid", "entity-name", "entity-role", "entity-type", "policy",
     "site", "source"), _AUDIT_UNINDEXED)}

# Answered only from the type's own columns (mappings/bindings.py binds each; a test checks),
# never from side tables, so no side rows are written for them: every value form, and the
# modifiers in COLUMN_MODIFIERS, are answered there. Token `:text` is not: the columns keep
# codes, not displays.
COLUMN_ONLY: dict[str, frozenset[str]] = {"AuditEvent": frozenset({"action", "outcome", "date", "type", "subtype"})}
COLUMN_MODIFIERS = frozenset({"missing", "not", "above", "below", "in", "not-in"})


@dataclass(frozen=True, slots=True)
class Param:
    resource_type: str
    code: str
    type: str
    kind_key: str                             # which kind indexes and matches it (searchparams.kinds)
    definition: SearchParamDef
    path: Path | None = None                  # None: written by hand (its kind's `index`)
    components: tuple["Param", ...] = ()      # composite parts, in order

    @property
    def kind(self) -> IndexKind:
        return REGISTRY[self.kind_key]

    @property
    def targets(self) -> tuple[str, ...]:
        """Reference target types, narrowed by the expression's `where(resolve() is X)`:
        Observation `patient` is subject.where(resolve() is Patient), so a Group is not one."""
        allowed = _resolve_types(self.resource_type, self.code) if "#" not in self.code else None
        return tuple(t for t in self.definition.targets if allowed is None or t in allowed)

    @property
    def code_system(self) -> str | None:
        """The code system a `code` element's required binding implies: its tokens carry it."""
        return _code_system(self.resource_type, self.code) if "#" not in self.code else None

    @property
    def implicit_system(self) -> bool:
        """Primitive token values with no implied system (booleans, ids, unbound codes) match a
        `system|code` search on the code alone: they have no system to compare."""
        return self.type == "token" and bool(_primitive_terminals(self)) and self.code_system is None


@dataclass(frozen=True, slots=True)
class Declined:
    code: str
    type: str
    reason: str


def _component(resource_type: str, d: SearchParamDef, index: int) -> Param:
    part = d.components[index]
    by_url = {p.url: p for p in params_for(resource_type).values()}
    target = by_url.get(part["definition"])
    if target is None:
        raise Unsupported(f"component {part['definition']} is not defined for {resource_type}")
    # Component expressions are relative to the composite's own nodes ("X" stands for them).
    path = compile_expression(_relative(part["expression"]), "X")
    return Param(resource_type, f"{d.code}#{index}", target.type, target.type, target, path)


def _relative(expression: str) -> str:
    """'code' -> 'X.code'; 'value.as(Quantity)' -> '(X.value as Quantity)'; each side of a union
    alike ('value.as(DateTime) | value.as(Period)': code-value-date's Period values too)."""
    if "|" in expression:   # R4's component expressions have no '|' inside parentheses
        return " | ".join(_relative(part.strip()) for part in expression.split("|"))
    if expression.startswith("value.as(") and expression.endswith(")"):
        return f"(X.value as {expression[len('value.as('):-1]})"
    return f"X.{expression}"


def _classify(resource_type: str, d: SearchParamDef) -> Param | Declined:
    if d.code in NOT_SUPPORTED:
        return Declined(d.code, d.type, NOT_SUPPORTED[d.code])
    if d.code in NOT_INDEXED.get(resource_type, {}):
        return Declined(d.code, d.type, NOT_INDEXED[resource_type][d.code])
    if d.type == "special":
        return Declined(d.code, d.type, "special parameters (geographic 'near') are not implemented")
    if d.type == "composite" and len(d.components) != 2:   # only MolecularSequence's have three
        return Declined(d.code, d.type, "composites of more than two parts are not indexed")
    special = SPECIAL_KINDS.get((resource_type, d.code))
    if special is not None:
        return Param(resource_type, d.code, d.type, special, d, None)
    key = OWN_KINDS.get(d.code, d.type)
    try:
        if d.type == "composite":
            parts = tuple(_component(resource_type, d, i) for i in range(len(d.components)))
            return Param(resource_type, d.code, d.type, key, d, compile_expression(d.expression, resource_type), parts)
        return Param(resource_type, d.code, d.type, key, d, compile_expression(d.expression, resource_type))
    except Unsupported as exc:
        return Declined(d.code, d.type, f"expression outside the supported FHIRPath subset ({exc})")


@cache
def catalog(resource_type: str) -> dict[str, Param | Declined]:
    return {code: _classify(resource_type, d) for code, d in sorted(params_for(resource_type).items())}


@cache
def supported(resource_type: str) -> dict[str, Param]:
    return {c: p for c, p in catalog(resource_type).items() if isinstance(p, Param)}


@cache
def declined(resource_type: str) -> dict[str, Declined]:
    return {c: p for c, p in catalog(resource_type).items() if isinstance(p, Declined)}


def column_only(resource_type: str, code: str) -> bool:
    return code in COLUMN_ONLY.get(resource_type, ())


@cache
def indexed(resource_type: str) -> dict[str, Param]:
    """Supported parameters whose values go to side tables."""
    return {c: p for c, p in supported(resource_type).items()
            if c not in MAIN_COLUMNS and not column_only(resource_type, c)}


@cache
def tables(resource_type: str) -> tuple[str, ...]:
    """The suffixes of the side tables a type needs, in a fixed order."""
    used = {t.suffix for p in indexed(resource_type).values() for t in p.kind.writes}
    return tuple(t.suffix for t in TABLES if t.suffix in used)


@cache
def _primitive_terminals_of(resource_type: str, code: str) -> frozenset[str]:
    d = params_for(resource_type)[code]
    try:
        types = terminal_types(d.expression, resource_type)
    except Unsupported:
        return frozenset()
    return frozenset(t for t in types if t in ("code", "string", "boolean", "id", "uri"))


def _primitive_terminals(p: Param) -> frozenset[str]:
    return _primitive_terminals_of(p.resource_type, p.code) if "#" not in p.code else frozenset()


@cache
def _resolve_types(resource_type: str, code: str) -> frozenset[str] | None:
    return resolve_types(params_for(resource_type)[code].expression, resource_type)


@cache
def _code_system(resource_type: str, code: str) -> str | None:
    try:
        elements = terminal_elements(params_for(resource_type)[code].expression, resource_type)
    except Unsupported:
        return None
    systems = {bound_systems().get(e) for e in elements}
    return systems.pop() if len(systems) == 1 else None


def hierarchy(resource_type: str) -> str | None:
    """The reference parameter that makes `resource_type` a hierarchy: the one whose only
    target is the type itself (Location and Organization `partof`, Encounter `part-of`).
    search.html#reference: :above and :below follow it."""
    circular = [p.code for p in supported(resource_type).values()
                if p.type == "reference" and p.targets == (resource_type,) and not p.code.startswith("_")]
    return circular[0] if len(circular) == 1 else None
