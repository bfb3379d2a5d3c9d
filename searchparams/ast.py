"""The typed form of a FHIR search: immutable values that print as S-expressions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Token:
    system: str | None          # None: any system; "": no system ("|code")
    code: str | None            # None: any code ("system|")

    def __str__(self) -> str:
        return f"{'*' if self.system is None else self.system}|{'*' if self.code is None else self.code}"


@dataclass(frozen=True, slots=True)
class Text:
    value: str                  # folded (case and accents) unless the modifier is :exact

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Reference:
    targets: tuple[str, ...]    # "Type/id" candidates, or one absolute URL

    def __str__(self) -> str:
        return "|".join(self.targets)


@dataclass(frozen=True, slots=True)
class Date:
    prefix: str                 # eq ne gt lt ge le sa eb ap
    start: datetime
    end: datetime
    # A value finer than a microsecond has bounds between microseconds: `start` and `end`
    # are then rounded up, and these rounded down (None: the same as rounded up).
    start_down: datetime | None = None
    end_down: datetime | None = None

    @property
    def floor_start(self) -> datetime:
        return self.start if self.start_down is None else self.start_down

    @property
    def floor_end(self) -> datetime:
        return self.end if self.end_down is None else self.end_down

    def __str__(self) -> str:
        fine = "" if self.start_down is None else f" down[{self.floor_start.isoformat()},{self.floor_end.isoformat()})"
        return f"{self.prefix}[{self.start.isoformat()},{self.end.isoformat()}){fine}"


@dataclass(frozen=True, slots=True)
class Number:
    """A number or quantity value: `lo`/`hi` is the range its written precision implies."""

    prefix: str
    value: Decimal
    lo: Decimal
    hi: Decimal
    system: str | None = None   # quantities only
    code: str | None = None

    def __str__(self) -> str:
        unit = f" {self.system or ''}|{self.code}" if self.code or self.system else ""
        return f"{self.prefix}{self.value}[{self.lo},{self.hi}){unit}"


@dataclass(frozen=True, slots=True)
class Uri:
    value: str

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Composite:
    parts: tuple["Value", ...]

    def __str__(self) -> str:
        return "$".join(str(p) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Missing:
    missing: bool

    def __str__(self) -> str:
        return f"missing={str(self.missing).lower()}"


Value = Token | Text | Reference | Date | Number | Uri | Composite | Missing


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
class Chain:
    """`code:Type.inner`: references through `code` to a `Type` resource matching `inner`."""

    code: str
    target_type: str
    inner: "Filter"

    def __str__(self) -> str:
        return f"(chain {self.code} {self.target_type} {self.inner})"


@dataclass(frozen=True, slots=True)
class Has:
    """`_has:Type:ref:inner`: some `Type` resource referring here through `ref` matches `inner`."""

    source_type: str
    ref_code: str
    inner: "Filter"

    def __str__(self) -> str:
        return f"(has {self.source_type} {self.ref_code} {self.inner})"


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Filters OR-ed: an untyped chain (`subject.name`) over every stored target type."""

    filters: tuple["Filter", ...]

    def __str__(self) -> str:
        return f"(or {' '.join(str(f) for f in self.filters)})"


@dataclass(frozen=True, slots=True)
class AllOf:
    """Filters AND-ed inside one node: a chain's or _has's inner search together with the
    caller's confinement (searchparams/confine.py)."""

    filters: tuple["Filter", ...]

    def __str__(self) -> str:
        return f"(and {' '.join(str(f) for f in self.filters)})"


Filter = Clause | Chain | Has | AnyOf | AllOf


@dataclass(frozen=True, slots=True)
class SortKey:
    code: str
    descending: bool

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.code


@dataclass(frozen=True, slots=True)
class Include:
    source_type: str
    code: str
    target_type: str | None
    iterate: bool
    reverse: bool

    def __str__(self) -> str:
        kind = "revinclude" if self.reverse else "include"
        return f"({kind}{':iterate' if self.iterate else ''} {self.source_type}:{self.code}:{self.target_type or '*'})"


@dataclass(frozen=True, slots=True)
class Search:
    resource_type: str
    filters: tuple[Filter, ...]
    count: int
    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = ()
    summary: str | None = None          # true | text | data | count | false
    elements: tuple[str, ...] = ()
    total: str = "none"                 # none | estimate | accurate
    cursor: str | None = None           # opaque page token
    applied: tuple[tuple[str, str], ...] = ()   # what the self link shows

    @property
    def clauses(self) -> tuple[Filter, ...]:
        return self.filters

    def __str__(self) -> str:
        return f"(search {self.resource_type} (and {' '.join(str(c) for c in self.filters)}))"
