"""Composite parameters: a row per combination of its two parts' values, found on the same
node (component-code-value-quantity: a component's code and its value, never another
component's). The parts' own kinds read, index and match them; the composite only says
which of its columns each part's columns are. Every composite has two parts (the catalog
declines the three-part ones of MolecularSequence)."""

from __future__ import annotations

from functools import cache
from itertools import product

from searchparams import ast
from searchparams.kinds.base import Cols, IndexKind, Params, Reading, SideTable, split_unescaped

TABLE = SideTable("comp", (("param", "text"), ("c1_system", "text"), ("c1_code", "text"), ("v_system", "text"),
                           ("v_code", "text"), ("v_num", "numeric"), ("v_lo", "timestamptz"), ("v_hi", "timestamptz"),
                           ("v_str", "text")),
                  ("(param, c1_code, v_code) INCLUDE ({key})", "(param, c1_code, v_num) INCLUDE ({key})"))

# A part's own column -> the composite's: the first part is a token, the second any kind.
FIRST = {"system": "c1_system", "code": "c1_code"}
SECOND = {"system": "v_system", "code": "v_code", "value": "v_num", "lo": "v_lo", "hi": "v_hi", "norm": "v_str"}
_FIRST, _SECOND = tuple(FIRST), tuple(SECOND)   # in the composite's column order


def _rows(part, root: tuple, at: tuple[int | None, ...]) -> list[tuple]:
    """A part's rows (its kind's columns without `param`) as the composite's columns (`at`)."""
    return [tuple(None if i is None else r[i] for i in at) for r in part.kind.component(part, part.path([root]))]


@cache
def _positions(own: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[int | None, ...]:
    """Where each wanted column is in a part's row (after `param`); None: the part has none."""
    return tuple(own.index(n) - 1 if n in own else None for n in wanted)


class Composite(IndexKind):
    type = "composite"
    side = TABLE
    modifiers = frozenset()

    def value(self, prm, raw: str, modifier: str | None, how: Reading) -> ast.Value:
        pieces = split_unescaped(raw, "$")
        if len(pieces) != len(prm.components):
            raise ValueError(f"'{raw}' needs {len(prm.components)} parts separated by $")
        return ast.Composite(tuple(c.kind.value(c, piece, None, Reading()) for c, piece in zip(prm.components, pieces)))

    def match(self, prm, v: ast.Composite, modifier: str | None, p: Params, col: Cols = None) -> str:
        return " AND ".join(part.kind.match(part, value, None, p, Cols("{s}", names))
                            for part, value, names in zip(prm.components, v.parts, (FIRST, SECOND)))

    def index(self, prm, nodes: list, out: dict[str, list[tuple]], base: str) -> None:
        first, second = prm.components
        at1 = _positions(first.kind.side.names, _FIRST)
        at2 = _positions(second.kind.side.names, _SECOND)
        for root in nodes:
            out[TABLE.suffix] += [(prm.code, *a, *b) for a, b in product(_rows(first, root, at1),
                                                                         _rows(second, root, at2))]
