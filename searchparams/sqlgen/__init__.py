"""SQL generation for search: values.py (conditions per value kind), filters.py (clauses,
chains, _has over main and side tables), select.py (statements: page, count, sort, keyset),
include.py (the statements of each _include and _revinclude round)."""
