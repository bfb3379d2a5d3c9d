"""What one resource version puts in its tables besides its JSON, built in one place.

Create and update (fhirserver/interactions/drafts.py), the bulk loader (fhirserver/bulk.py)
and the index rebuild (fhirserver/db/reindex.py) all build their rows here, so a resource
is filed, bound and indexed the same way whichever path wrote it. `base` is the tenant's
absolute FHIR base: references written with it are stored as `Type/id`, in the bound
columns and the side tables alike (the rebuild once indexed them as written, so a
reference to this server given as a URL was found before a rebuild and not after).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fhirserver import ids
from mappings.base import ResourceMapping
from searchparams.index import as_arrays, index_rows


@dataclass(frozen=True, slots=True)
class Row:
    part_ts: datetime | None        # the month it is filed under (time-partitioned types only)
    clinical: bool                  # False: part_ts is the write time, for want of a clinical time
    columns: list                   # the mapping's bound columns
    refs: list[tuple[str, str]]     # (type, id) of each resource here it refers to, sorted, once
    index: dict[str, list[tuple]]   # search index rows by side table suffix

    def side_arrays(self, resource_type: str) -> list[list]:
        """The index rows as the column arrays the storage statements unnest (mappings/sql.py)."""
        return as_arrays(resource_type, self.index)


def build_row(m: ResourceMapping, resource: dict, base: str, written: datetime,
          targets: list[tuple[str, str]] = ()) -> Row:
    """`written`: when this version is written, the month of a resource with no clinical
    time; `targets`: the local references validation found (the rebuild passes none: it
    leaves resource_refs as they are)."""
    part_ts, clinical = None, True
    if m.time_partitioned:
        clinical_ts = m.clinical_time(resource)
        part_ts, clinical = ids.clamp(clinical_ts or written), clinical_ts is not None
    return Row(part_ts, clinical, m.column_values(resource, base), sorted(set(targets)), index_rows(resource, base))
