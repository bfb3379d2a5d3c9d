-- 0004: the operators of the search side tables keep their indexes under RLS (see 0002).
-- Quantity comparisons (numeric) and :contains (LIKE, served by the pg_trgm index) raise no
-- data-dependent errors. Needs a superuser; without one the server warns at start.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION numeric_eq(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION numeric_ne(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION numeric_lt(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION numeric_le(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION numeric_gt(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION numeric_ge(numeric, numeric) LEAKPROOF;
    ALTER FUNCTION textlike(text, text) LEAKPROOF;
  ELSE
    RAISE WARNING 'not a superuser: numeric and LIKE operators stay non-leakproof; RLS may stop index use';
  END IF;
END $$;
