"""What every kind of search index is: a side table, a value syntax, a match, a sort.

A kind (one class per R4 search parameter type, plus the special ones) owns all that
decides how its parameters are searched: the typed columns of the side table its rows
go to and that table's indexes, how a value written in a URL is read (with the
modifiers it declares), the condition a side row must meet for one value, how a
resource's elements become rows, and which column it sorts by. The parser, the SQL
compiler, the DDL generator and the CapabilityStatement ask the kind, so a new modifier
is a change to one class. The compiler keeps what is not the kind's: which table a
resource's side rows are in, how they join it, and the columns a mapping binds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Protocol

from searchparams import ast


@dataclass(frozen=True)
class SideTable:
    """A side table's columns after (org_id, [part_ts,] id) and its indexes, where `{key}` is
    that row key: the table name is `<resource table>_<suffix>`."""

    suffix: str
    columns: tuple[tuple[str, str], ...]
    indexes: tuple[str, ...]
    required: frozenset[str] = frozenset({"param"})
    natural: frozenset[str] = frozenset()   # text compared by the database's collation, not byte-wise

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


class Refused(ValueError):
    """A parameter this server cannot apply: unknown, unsupported, or a modifier it lacks."""

    def __init__(self, msg: str, text: str) -> None:
        super().__init__(text)
        self.msg = msg


@dataclass(frozen=True)
class Reading:
    """What reading a value needs beyond the parameter: the tenant's absolute base (a
    reference written with it means the relative form) and the parameter that makes a type
    a hierarchy (catalog.hierarchy; the catalog is a layer above the kinds)."""

    base: str = ""
    hierarchy: Callable[[str], str | None] = field(default=lambda resource_type: None)
    target_type: str | None = None   # a reference's `:Type`


class Params(Protocol):
    def add(self, value: object, cast: str = "") -> str: ...


class SideRows(Protocol):
    """The compiler's side of a clause: where the searched resource's side rows are."""

    p: Params

    def side(self, suffix: str, param: str, body: str | None) -> str:
        """EXISTS a row of side table `suffix` for `param` meeting `body` (alias `{s}`)."""

    def linked(self, code: str, targets_sql: str) -> str:
        """The resource's reference `code` points at one of the "Type/id" that `targets_sql` selects."""

    def hierarchy(self, clause: ast.Clause) -> str:
        """SELECT of "Type/id" of the clause's references and all below (or above) them."""


class Cols:
    """Column names of one side row, as SQL: `{s}.code` for a kind's own table; a composite's
    part renames them into the composite's columns, and a column it lacks is None."""

    def __init__(self, alias: str = "{s}", names: dict[str, str] | None = None) -> None:
        self.alias, self.names = alias, names

    def __call__(self, name: str) -> str | None:
        if self.names is None:
            return f"{self.alias}.{name}"
        return f"{self.alias}.{self.names[name]}" if name in self.names else None


OWN = Cols()


class IndexKind:
    """The defaults are the plain case; each kind overrides what it does differently."""

    type: str                                   # the R4 search parameter type
    side: SideTable                             # where its rows go
    modifiers: frozenset[str] = frozenset({"missing"})
    sort_columns: tuple[str, str] | None = None  # sorted by min() of the first, or, descending, max() of the second
    notes: str = ""                             # what the CapabilityStatement adds about the modifiers

    @property
    def writes(self) -> tuple[SideTable, ...]:
        """Every side table its rows go to."""
        return (self.side,)

    def documentation(self) -> str:
        listed = ", ".join(":" + m for m in sorted(self.modifiers))
        return (f"Modifiers: {listed}." if listed else "No modifiers.") + self.notes

    # Reading a search

    def accept(self, prm, modifier: str) -> None:
        """Refuse a modifier this parameter cannot take."""
        if modifier not in self.modifiers:
            raise Refused("SP-MODIFIER", f"Modifier ':{modifier}' is not supported for {prm.type} parameter "
                          f"'{prm.code}'")

    def clause(self, prm, modifier: str | None, raw: str, how: Reading) -> ast.Clause:
        read = _missing if modifier == "missing" else self.value
        values = tuple(read(prm, piece, modifier, how) for piece in split_unescaped(raw, ","))
        return ast.Clause(prm.code, modifier, values)

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        raise NotImplementedError

    # Answering it

    def condition(self, rows: SideRows, prm, c: ast.Clause) -> str:
        """The clause's condition on the searched resource (its values OR-ed)."""
        body = any_of([self.match(prm, v, c.modifier, rows.p) for v in c.values])
        return rows.side(self.side.suffix, prm.code, body)

    def match(self, prm, v: ast.Value, modifier: str | None, p: Params, col: Cols = OWN) -> str:
        """The condition on one side row for one value."""
        raise NotImplementedError

    # Indexing a resource

    def index(self, prm, nodes: list, out: dict[str, list[tuple]], base: str) -> None:
        """Append the rows of `nodes` (the parameter's FHIRPath result) to `out` by table suffix."""
        out[self.side.suffix] += [r for n in nodes for r in self.rows(prm.code, n, prm)]

    def rows(self, param: str, node: tuple, prm) -> list[tuple]:
        raise NotImplementedError

    def component(self, part, nodes: list) -> list[tuple]:
        """The rows of a composite's part, in this kind's columns without `param`."""
        return [r[1:] for n in nodes for r in self.rows("", n, part)]


def _missing(prm, raw: str, modifier: str, how: Reading) -> ast.Missing:
    if raw not in ("true", "false"):
        raise ValueError(":missing takes true or false")
    return ast.Missing(raw == "true")


def any_of(parts: list[str]) -> str:
    if not parts:
        return "false"   # an empty value set or hierarchy: nothing matches
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def prefixed(raw: str) -> tuple[str, str]:
    return (raw[:2], raw[2:]) if raw[:2] in PREFIXES and len(raw) > 2 else ("eq", raw)


def split_unescaped(raw: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split on `sep` where it is not escaped; escapes stay for `unescape` (search.html#escaping:
    `\\,` is a comma inside a value, `\\\\` a backslash, so `a\\\\,b` is two values)."""
    if "\\" not in raw:   # nothing escaped: the common case, at str.split's speed
        return raw.split(sep, maxsplit)
    parts, current, i = [], "", 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            current += raw[i:i + 2]
            i += 2
            continue
        if ch == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def unescape(value: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", value) if "\\" in value else value


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (C collation)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD7FF <= last < 0xDFFF else 0xE000   # surrogates are no text
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def prefix_match(column: str, prefix: str, p: Params) -> str:
    """`column` starts with `prefix`, as a B-tree range (leakproof, index-friendly, unlike LIKE)."""
    hi = successor(prefix)
    lo = f"{column} >= {p.add(prefix)}"
    return f"({lo} AND {column} < {p.add(hi)})" if hi else f"({lo})"
