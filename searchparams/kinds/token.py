"""Token parameters: codes, identifiers, booleans, and the special `deceased` of Patient."""

from __future__ import annotations

from functools import lru_cache

from fhirserver.textfold import normalize_text
from searchparams import ast, terminology
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
    prefix_match,
    split_unescaped,
    unescape,
)

# (param, system, code, text): a coded value, or (param, NULL, NULL, folded text) for :text.
# Identifier types also give "<code>:of-type" rows whose system is "type-system|type-code".
TABLE = SideTable("tok", (("param", "text"), ("system", "text"), ("code", "text"), ("text", "text")),
                  ("(param, code, system) INCLUDE ({key})", "(param, system) INCLUDE ({key})",
                   "(param, text) INCLUDE ({key}) WHERE text IS NOT NULL"))

_CONCEPTS = {"above", "below", "in", "not-in"}   # answered as the plain codes they stand for


def token(raw: str) -> ast.Token:
    parts = split_unescaped(raw, "|", maxsplit=1)
    if len(parts) == 1:
        return ast.Token(None, unescape(raw))
    system, code = (unescape(p) for p in parts)
    return ast.Token(system, code or None)


def token_match(v: ast.Token, p: Params, implicit_system: bool, col: Cols = OWN) -> str:
    """A row's system and code against a token value: `code` any system, `system|code`,
    `|code` no system, `system|` any code."""
    parts = []
    if v.code is not None:
        parts.append(f"{col('code')} = {p.add(v.code)}")
    if v.system == "":
        parts.append(f"{col('system')} IS NULL")
    elif v.system is not None:
        same = f"{col('system')} = {p.add(v.system)}"
        parts.append(f"({same} OR {col('system')} IS NULL)" if implicit_system and v.code is not None else same)
    return "(" + " AND ".join(parts) + ")"


def tokens_match(vs: tuple[ast.Token, ...], p: Params, implicit_system: bool) -> list[str]:
    """Conditions for OR-ed token values; system|code values of one system become one
    `code = ANY(...)` (a value set's hundreds of codes stay one index condition)."""
    by_system: dict[str, list[str]] = {}
    out = []
    for v in vs:
        if isinstance(v, ast.Token) and v.system and v.code is not None:
            by_system.setdefault(v.system, []).append(v.code)
        else:
            out.append(token_match(v, p, implicit_system))
    for system, codes in by_system.items():
        if len(codes) == 1:
            out.append(token_match(ast.Token(system, codes[0]), p, implicit_system))
            continue
        match = f"{{s}}.system = {p.add(system)}"
        match = f"({match} OR {{s}}.system IS NULL)" if implicit_system else match
        out.append(f"({{s}}.code = ANY({p.add(codes, 'text[]')}) AND {match})")
    return out


def token_rows(param: str, node: tuple, system: str | None = None) -> list[tuple]:
    """`system`: the implied system of a bound `code` element (catalog.Param.code_system)."""
    value, kind = node
    if kind == "boolean":
        return [(param, None, "true" if value else "false", None)]
    if not isinstance(value, dict):
        return [(param, system if kind == "code" else None, str(value), None)]
    if kind == "CodeableConcept":
        rows = [r for c in value.get("coding", ()) for r in token_rows(param, (c, "Coding"))]
        if value.get("text"):
            rows.append((param, None, None, normalize_text(value["text"])))
        return rows
    if kind == "Coding":
        has_value = value.get("code") or value.get("system")
        rows = [(param, value.get("system"), value.get("code"), None)] if has_value else []
        if value.get("display"):
            rows.append((param, None, None, normalize_text(value["display"])))
        return rows
    if kind == "Identifier":
        rows = [(param, value.get("system"), value.get("value"), None)]
        for coding in value.get("type", {}).get("coding", ()):
            type_key = f"{coding.get('system', '')}|{coding.get('code', '')}"
            rows.append((f"{param}:of-type", type_key, value.get("value"), None))
        if value.get("type", {}).get("text"):
            rows.append((param, None, None, normalize_text(value["type"]["text"])))
        return rows
    if kind == "ContactPoint":   # R4's token table gives ContactPoint a value and no system
        return [(param, None, value.get("value"), None)]
    return []


class Token(IndexKind):
    type = "token"
    side = TABLE
    modifiers = frozenset({"not", "text", "missing", "of-type", "above", "below", "in", "not-in"})
    sort_columns = ("code", "code")
    notes = (" :above/:below/:in/:not-in use R4's own code systems and value sets; SNOMED CT, LOINC "
             "and other external hierarchies are refused (no terminology service).")

    def accept(self, prm, modifier: str) -> None:
        super().accept(prm, modifier)
        if modifier == "of-type" and prm.code != "identifier":
            raise Refused("SP-MODIFIER", ":of-type applies to identifier parameters only")

    def clause(self, prm, modifier: str | None, raw: str, how: Reading) -> ast.Clause:
        if modifier in _CONCEPTS:   # `:not-in` is `:not` over the value set's codes
            return ast.Clause(prm.code, "not" if modifier == "not-in" else None, _concepts(raw, modifier))
        return super().clause(prm, modifier, raw, how)

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        if modifier == "text":
            return ast.Text(normalize_text(unescape(raw)))
        if modifier == "of-type":
            parts = [unescape(x) for x in split_unescaped(raw, "|")]
            if len(parts) != 3:
                raise ValueError(":of-type takes type-system|type-code|value")
            return ast.Token(f"{parts[0]}|{parts[1]}", parts[2])
        return token(raw)

    def condition(self, rows: SideRows, prm, c: ast.Clause) -> str:
        if c.modifier in (None, "not"):
            body = any_of(tokens_match(c.values, rows.p, prm.implicit_system))
        else:
            body = any_of([self.match(prm, v, c.modifier, rows.p) for v in c.values])
        param = f"{prm.code}:of-type" if c.modifier == "of-type" else prm.code
        exists = rows.side(self.side.suffix, param, body)
        return f"NOT {exists}" if c.modifier == "not" else exists

    def match(self, prm, v: ast.Value, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        if isinstance(v, ast.Text):
            return prefix_match(col("text"), v.value, p)
        return token_match(v, p, prm.implicit_system, col)

    def index(self, prm, nodes: list, out: dict[str, list[tuple]], base: str) -> None:
        system = prm.code_system
        out[TABLE.suffix] += [r for n in nodes for r in token_rows(prm.code, n, system)]

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        return token_rows(param, node, prm.code_system)

    def component(self, part, nodes: list) -> list[tuple]:
        return [r[1:] for n in nodes for r in self.rows("", n, part) if r[2] is not None]


class Deceased(Token):
    """Patient `deceased`: R4's expression is a boolean test (deceased.exists() and
    deceased != false), outside the FHIRPath subset, so its one row is written by hand."""

    def index(self, prm, nodes: list, out: dict[str, list[tuple]], base: str) -> None:
        resource = nodes[0][0]   # the root: a hand-written parameter gets the resource
        dead = "deceasedDateTime" in resource or resource.get("deceasedBoolean") is True
        out[self.side.suffix].append((prm.code, None, "true" if dead else "false", None))


@lru_cache(maxsize=512)   # a value set's hundreds of codes are sorted into tokens once, not per request
def _concepts(raw: str, modifier: str) -> tuple[ast.Token, ...]:
    """Token :above/:below/:in/:not-in as the plain codes they stand for (searchparams/terminology.py)."""
    found: set[tuple[str, str]] = set()
    for piece in split_unescaped(raw, ","):
        try:
            if modifier in ("in", "not-in"):
                found |= terminology.expand(unescape(piece))
                continue
            t = token(piece)
            if not t.system or t.code is None:
                raise ValueError(f"':{modifier}' takes system|code, not '{unescape(piece)}'")
            codes = (terminology.below if modifier == "below" else terminology.above)(t.system, t.code)
            found |= {(t.system, c) for c in codes}
        except terminology.Unknown as exc:
            raise Refused("SP-TERMINOLOGY", f"':{modifier}' cannot be answered: {exc}") from None
    return tuple(ast.Token(system, code) for system, code in sorted(found))
