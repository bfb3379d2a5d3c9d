"""Reference parameters: a stored reference is "Type/id" for a relative one (an absolute URL
to this server is made relative), else the URL as written."""

from __future__ import annotations

from dataclasses import replace

from fhirserver import spec
from searchparams import ast
from searchparams.kinds import token
from searchparams.kinds.base import (
    OWN,
    Cols,
    IndexKind,
    Params,
    Reading,
    Refused,
    SideRows,
    SideTable,
    any_of,
    unescape,
)

TABLE = SideTable("ref", (("param", "text"), ("target", "text")), ("(param, target) INCLUDE ({key})",),
                  required=frozenset({"param", "target"}))


def parse_reference(raw: str, prm, target_type: str | None, base: str = "") -> ast.Reference:
    value = unescape(raw)
    if base and value.startswith(base + "/"):   # our own absolute URL: stored relative
        value = value[len(base) + 1:]
    targets = tuple(t for t in prm.targets if target_type in (None, t))
    if "://" in value or value.startswith("urn:"):
        segments = value.rstrip("/").split("/")
        if len(segments) >= 2 and segments[-2] in spec.resource_types() and segments[-2] not in targets:
            return ast.Reference(())   # a URL to another type (a Group for `patient`): matches nothing
        return ast.Reference((value,))
    parts = value.rstrip("/").split("/")
    if len(parts) == 2 and parts[0] and parts[1]:
        if parts[0] not in targets:
            raise ValueError(f"'{value}' is not a reference this parameter accepts ({', '.join(targets)})")
        return ast.Reference((value,))
    if len(parts) == 1 and value:
        return ast.Reference(tuple(f"{t}/{value}" for t in targets))
    raise ValueError(f"'{value}' is not a reference")


class Reference(IndexKind):
    """:identifier searches Reference.identifier, indexed as tokens ("<code>:identifier");
    :above/:below follow a type's circular reference (search.html#reference); `:Type` is
    no modifier but a target type, which the parser reads before the modifiers."""

    type = "reference"
    side = TABLE
    modifiers = frozenset({"identifier", "missing", "above", "below"})
    sort_columns = ("target", "target")
    notes = (" Also :[type]. :above/:below only towards Location, Organization (partof) and Encounter (part-of)."
             " Chains to any parameter of a stored target type ([code]:[Type].[parameter], at any depth) and"
             " reverse chains (_has).")

    @property
    def writes(self):
        return (TABLE, token.TABLE)

    def accept(self, prm, modifier: str) -> None:
        if not modifier[0].isupper():
            super().accept(prm, modifier)

    def clause(self, prm, modifier: str | None, raw: str, how: Reading) -> ast.Clause:
        if modifier and modifier[0].isupper():
            if modifier not in prm.targets:
                raise ValueError(f"'{modifier}' is not a target of '{prm.code}'")
            how, modifier = replace(how, target_type=modifier), None
        c = super().clause(prm, modifier, raw, how)
        if modifier in ("above", "below"):
            return ast.Clause(c.code, c.modifier, tuple(_in_hierarchy(v, prm.code, how) for v in c.values))
        return c

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        if modifier == "identifier":
            return token.token(raw)
        return parse_reference(raw, prm, how.target_type, how.base)

    def condition(self, rows: SideRows, prm, c: ast.Clause) -> str:
        if c.modifier in ("above", "below"):
            return rows.linked(prm.code, rows.hierarchy(c))
        if c.modifier == "identifier":
            body = any_of([token.token_match(v, rows.p, False) for v in c.values])
            return rows.side(token.TABLE.suffix, f"{prm.code}:identifier", body)
        return super().condition(rows, prm, c)

    def match(self, prm, v: ast.Reference, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        return f"{col('target')} = ANY({p.add(list(v.targets), 'text[]')})"

    def component(self, part, nodes: list) -> list[tuple]:
        return []   # R4 has no composite with a reference part

    def index(self, prm, nodes: list, out: dict[str, list[tuple]], base: str) -> None:
        for value, _ in nodes:
            if isinstance(value, str):
                out[TABLE.suffix].append((prm.code, value))
                continue
            if not isinstance(value, dict):
                continue
            ref = value.get("reference")
            if isinstance(ref, str) and not ref.startswith("#"):
                parts = ref.split("/")
                if len(parts) >= 4 and parts[-2] == "_history":
                    ref = "/".join(parts[:-2])
                if base and ref.startswith(base + "/"):
                    ref = ref[len(base) + 1:]
                out[TABLE.suffix].append((prm.code, ref))
            if isinstance(value.get("identifier"), dict):
                ident = value["identifier"]
                out[token.TABLE.suffix].append((f"{prm.code}:identifier", ident.get("system"), ident.get("value"),
                                                None))


def _in_hierarchy(v: ast.Reference, code: str, how: Reading) -> ast.Reference:
    """A reference value of :above/:below: local references to types that form a hierarchy."""
    kept = tuple(t for t in v.targets if "://" not in t and how.hierarchy(t.split("/")[0]))
    if not kept:
        raise Refused("SP-MODIFIER", f"':above' and ':below' on '{code}' need a reference to a resource type with "
                      "a hierarchy (Location, Organization, Encounter)")
    return ast.Reference(kept)
