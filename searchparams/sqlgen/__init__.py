"""SQL generation for search: filters.py (clauses, chains, _has over main and side tables;
the condition for each value comes from its parameter's kind, searchparams/kinds),
select.py (statements: page, count, sort, keyset), include.py (the statements of each
_include and _revinclude round)."""
