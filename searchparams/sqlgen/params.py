"""Bound parameters: every value becomes `$n`; the SQL text depends on the query's shape only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Params:
    values: list = field(default_factory=list)

    def add(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{'::' + cast if cast else ''}"


@dataclass
class Aliases:
    """Fresh table aliases for nested subqueries (a0 is the searched table)."""

    n: int = 0

    def next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"
