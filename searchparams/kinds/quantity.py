"""Number and quantity parameters: one table of exact stored numbers (with a quantity's
system, code and unit); a search number carries the range its precision implies."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from searchparams import ast
from searchparams.kinds.base import (
    OWN,
    Cols,
    IndexKind,
    Params,
    Reading,
    SideTable,
    prefixed,
    split_unescaped,
    unescape,
)

TABLE = SideTable("qty", (("param", "text"), ("value", "numeric"), ("system", "text"), ("code", "text"),
                          ("unit", "text")),
                  ("(param, code, value) INCLUDE ({key})", "(param, value) INCLUDE ({key})"),
                  required=frozenset({"param", "value"}))

_QUANTITIES = {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
_NUMBERS = {"decimal", "integer", "positiveInt", "unsignedInt"}


def parse_number(raw: str, system: str | None = None, code: str | None = None) -> ast.Number:
    """A number and the range its precision implies: 100 is [99.5, 100.5), 1e2 is [50, 150)."""
    prefix, text = prefixed(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a number") from None
    if not value.is_finite():
        raise ValueError(f"'{text}' is not a number")
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)
    return ast.Number(prefix, value, value - half, value + half, system, code)


def number_match(column: str, v: ast.Number, p: Params) -> str:
    """A stored exact number against a search number with its implied precision range."""
    if v.prefix == "eq":
        return f"({column} >= {p.add(v.lo)} AND {column} < {p.add(v.hi)})"
    if v.prefix == "ne":
        return f"({column} < {p.add(v.lo)} OR {column} >= {p.add(v.hi)})"
    if v.prefix == "ap":
        # Within 10 % of the value (search.html#prefix recommends it), and never narrower than
        # eq: the implied range of the written precision counts too (ap0 finds 0.3 as eq0 does).
        margin = abs(v.value) * Decimal("0.1")
        lo = min(v.lo, v.value - margin)
        upper = f"{column} <= {p.add(v.value + margin)}" if v.value + margin >= v.hi else f"{column} < {p.add(v.hi)}"
        return f"({column} >= {p.add(lo)} AND {upper})"
    if v.prefix == "sa":   # above the search value's whole implied range (search.html#prefix)
        return f"{column} >= {p.add(v.hi)}"
    if v.prefix == "eb":
        return f"{column} < {p.add(v.lo)}"
    op = {"gt": ">", "lt": "<", "ge": ">=", "le": "<="}[v.prefix]
    return f"{column} {op} {p.add(v.value)}"


def _decimal(raw: object) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
        return None
    try:
        return Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation:
        return None


class Quantity(IndexKind):
    type = "quantity"
    side = TABLE
    sort_columns = ("value", "value")

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        parts = [unescape(p) for p in split_unescaped(raw, "|")]
        if len(parts) not in (1, 3):
            raise ValueError(f"'{raw}' is not number|system|code")
        if len(parts) == 1:
            return parse_number(parts[0])
        return parse_number(parts[0], parts[1] or None, parts[2] or None)

    def match(self, prm, v: ast.Number, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        """With no system, the code or the stated unit (search.html#quantity); a table without
        a unit column (a composite's) holds the unit as a code without a system instead."""
        parts = [number_match(col("value"), v, p)]
        if v.system:
            parts.append(f"{col('system')} = {p.add(v.system)}")
        if v.code:
            c, code, unit = p.add(v.code), col("code"), col("unit")
            parts.append(f"{code} = {c}" if v.system or unit is None else f"({code} = {c} OR {unit} = {c})")
        return "(" + " AND ".join(parts) + ")"

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        value, kind = node
        if kind in _NUMBERS:
            number = _decimal(value)
            return [(param, number, None, None, None)] if number is not None else []
        if kind == "SampledData" and isinstance(value, dict):
            value, kind = value.get("origin", {}), "Quantity"
        if kind in _QUANTITIES and isinstance(value, dict) and (number := _decimal(value.get("value"))) is not None:
            return [(param, number, value.get("system"), value.get("code"), value.get("unit"))]
        return []

    def component(self, part, nodes: list) -> list[tuple]:
        """The coded unit, and the human unit as a row of its own without a system, so
        `5.4||milligram` finds it as the quantity table does and
        `5.4|http://unitsofmeasure.org|milligram` does not."""
        out = []
        for number, system, code, unit in super().component(part, nodes):
            out.append((number, system, code, None))
            if unit and unit != code:
                out.append((number, None, unit, None))
        return out


class Number(Quantity):
    type = "number"

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        return parse_number(raw)
