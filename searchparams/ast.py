"""The typed form of a FHIR search: immutable values that print as S-expressions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Token:
    system: str | None          # None: any system; "": no system ("|code")
    code: str | None            # None: any code ("system|")

    def __str__(self) -> str:
        return f"{'*' if self.system is None else self.system}|{'*' if self.code is None else self.code}"


@dataclass(frozen=True, slots=True)
class Text:
    value: str

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Reference:
    types: tuple[str, ...]      # candidate target types
    id: str

    def __str__(self) -> str:
        return f"{'|'.join(self.types)}/{self.id}"


@dataclass(frozen=True, slots=True)
class Date:
    prefix: str                 # eq ne gt lt ge le sa eb ap
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.prefix}[{self.start.isoformat()},{self.end.isoformat()})"


Value = Token | Text | Reference | Date


@dataclass(frozen=True, slots=True)
class Clause:
    """One search parameter occurrence: its values are OR-ed; clauses are AND-ed."""

    code: str
    modifier: str | None
    values: tuple[Value, ...]

    def __str__(self) -> str:
        mod = f":{self.modifier}" if self.modifier else ""
        return f"({self.code}{mod} (or {' '.join(str(v) for v in self.values)}))"


@dataclass(frozen=True, slots=True)
class Search:
    resource_type: str
    clauses: tuple[Clause, ...]
    count: int
    summary_count: bool = False
    total: str = "none"                 # none | accurate
    after_id: str | None = None         # keyset cursor: ids greater than this
    applied: tuple[tuple[str, str], ...] = ()   # what the self link shows

    def __str__(self) -> str:
        return f"(search {self.resource_type} (and {' '.join(str(c) for c in self.clauses)}))"
