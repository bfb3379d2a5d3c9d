"""The declarative shape of a resource mapping: which elements become which columns.

A mapping names its table, its hot columns (each with an extractor from
`mappings.extract`) and, for high-volume types, the clinical time that picks the
month partition. The full resource is always stored as the exact JSON served on
read; columns exist only to be searched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from mappings.extract import Extractor


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str            # as declared in mappings/ddl; tests compare with the live catalog
    extract: Extractor
    is_reference: bool = False   # holds a Reference.reference: stored relative to this server


@dataclass(frozen=True, slots=True)
class ResourceMapping:
    resource_type: str
    table: str
    columns: tuple[Column, ...]
    # The clinical time that chooses the month partition; None = partitioned by tenant only.
    clinical_time: Callable[[dict], datetime | None] | None = None
    # The date search parameter whose value is the clinical time whenever it is present, so
    # that bounds on it are bounds on part_ts and let PostgreSQL prune month partitions
    # (searchparams/partitions.py). A parameter bound to one instant column (an appointment's
    # start, an audit event's recorded) is filed by that instant. Any other is a range (an
    # encounter's period, an observation's effective[x], a claim's created, which may be a
    # whole day or year) and is filed by its last instant (`extract.last_instant`), an open
    # one under the last month of all: "since" searches (ge, gt, sa) and eq, eb then bound
    # part_ts. The seed filed by the start, which bounds nothing for date=ge (a stay that
    # began years ago still matches), so every "recent" search planned every month.
    partition_param: str | None = None
    # The shared table this type's rows live in (mappings/generic.py), when `table` is a view
    # over it rather than a table of its own.
    storage: str | None = None
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    @property
    def time_partitioned(self) -> bool:
        return self.clinical_time is not None

    @property
    def history_table(self) -> str:
        return self.table + "_history"

    def side_table(self, suffix: str) -> str:
        """The side table of one index kind (searchparams.kinds): `observations_tok`. Every
        statement names side tables through here, so their naming lives in one place."""
        return f"{self.table}_{suffix}"

    def sql_type(self, column: str) -> str:
        """The SQL type of a column (the shared ones included)."""
        for c in self.columns:
            if c.name == column:
                return c.sql_type
        return {"last_updated": "timestamptz", "part_ts": "timestamptz"}.get(column, "text")

    def column_values(self, resource: dict, base: str = "") -> list:
        """Column values; references to `base` (this server's tenant base) are made relative."""
        values = [c.extract(resource) for c in self.columns]
        if base:
            prefix = base + "/"
            for i, c in enumerate(self.columns):
                if c.is_reference and isinstance(values[i], str) and values[i].startswith(prefix):
                    values[i] = values[i][len(prefix):]
        return values


def first_time(*extractors: Extractor) -> Callable[[dict], datetime | None]:
    """The first of several candidate clinical times that is present."""
    def pick(resource: dict) -> datetime | None:
        for extract in extractors:
            value = extract(resource)
            if value is not None:
                return value
        return None
    return pick
