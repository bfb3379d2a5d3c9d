"""The kinds of search index, one class each (searchparams/kinds/base.py says what a kind owns).

REGISTRY maps a parameter's kind key to its kind: the R4 type for most, a special key for a
parameter R4 types as one thing and that is indexed as another (`phonetic`), or one whose
expression is answered by hand (`deceased`). TABLES lists the side tables in the fixed
order the storage statements and the generated DDL use.
"""

from __future__ import annotations

from searchparams.kinds import composite, date, quantity, reference, string, token, uri
from searchparams.kinds.base import IndexKind, SideTable

REGISTRY: dict[str, IndexKind] = {
    "token": token.Token(), "string": string.String(), "date": date.Date(), "number": quantity.Number(),
    "quantity": quantity.Quantity(), "reference": reference.Reference(), "uri": uri.Uri(),
    "composite": composite.Composite(), "phonetic": string.Phonetic(), "deceased": token.Deceased(),
}

TABLES: tuple[SideTable, ...] = (token.TABLE, string.TABLE, date.TABLE, reference.TABLE, quantity.TABLE,
                                 composite.TABLE)
BY_SUFFIX: dict[str, SideTable] = {t.suffix: t for t in TABLES}
