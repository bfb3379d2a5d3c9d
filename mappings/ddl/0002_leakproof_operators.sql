-- 0002: let row-level security keep index scans on the operators our indexes use.
--
-- Under RLS, PostgreSQL evaluates a query's own conditions only after the policy,
-- unless the condition's function is LEAKPROOF; a non-leakproof condition can then
-- not drive an index scan. Equality and ordering on text, integers, dates and
-- timestamps are leakproof already; array containment/overlap (GIN on text[]) are
-- not, so every identifier or code lookup would become a sequential scan.
-- These functions raise no data-dependent errors and print nothing, which is what
-- LEAKPROOF promises. Marking them needs a superuser: on a managed PostgreSQL
-- without one this migration only warns, and the server logs the same warning at
-- start (searches stay correct but may not use those indexes).
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION arraycontains(anyarray, anyarray) LEAKPROOF;
    ALTER FUNCTION arrayoverlap(anyarray, anyarray) LEAKPROOF;
    ALTER FUNCTION arraycontained(anyarray, anyarray) LEAKPROOF;
  ELSE
    RAISE WARNING 'not a superuser: array operators stay non-leakproof; RLS may stop GIN index use';
  END IF;
END $$;
