-- 0006: a per-tenant DEFAULT ("overflow") partition of every month-partitioned table, so that
-- no request creates DDL for a clinical time outside the configured window.
-- The write path makes month partitions only for clinical times inside a window (default
-- 1900 to now + 2 years; fhirserver/db/partitions.py); a row outside it lands in its
-- tenant's default partition `{table}_o{org}_default`, and PostgreSQL reads it from there
-- for any range that no month partition covers. Creating a month whose rows sit in the
-- default (the window moved forward, or an operator made the month) first moves them out:
-- PostgreSQL refuses to attach a partition while the default holds rows of its range.
-- CREATE OR REPLACE needs whole bodies: they repeat 0005's, plus the overflow lines.

-- The tenant's overflow partition of the month-partitioned `parent` (its org partition must
-- exist); an administrative function, like fhir_create_org_partition.
CREATE FUNCTION fhir_create_overflow_partition(parent text, org integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  org_part text := format('%s_o%s', parent, org);
  overflow text := format('%s_o%s_default', parent, org);
BEGIN
  IF to_regclass(overflow) IS NOT NULL THEN RETURN overflow; END IF;
  PERFORM pg_advisory_xact_lock(hashtext(overflow));
  IF to_regclass(overflow) IS NOT NULL THEN RETURN overflow; END IF;
  IF to_regclass(org_part) IS NULL OR pg_get_partkeydef(to_regclass(org_part)) IS NULL THEN
    RAISE EXCEPTION 'tenant % has no month-partitioned partition of %', org, parent;
  END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                   overflow, parent);
  EXCEPTION WHEN duplicate_table THEN
    RETURN overflow;   -- made by a session we waited for (see 0001)
  END;
  PERFORM fhir_copy_statistics_targets(parent, overflow);
  -- Attaching a default scans it for rows other partitions claim: it is empty here.
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', org_part, overflow);
  RETURN overflow;
END $$;
REVOKE ALL ON FUNCTION fhir_create_overflow_partition(text, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION fhir_create_org_partition(parent text, org integer, by_month boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE child text := format('%s_o%s', parent, org);
BEGIN
  IF to_regclass(child) IS NULL THEN
    -- CREATE + ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent, where
    -- CREATE TABLE .. PARTITION OF would block every reader of the parent.
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)%s',
                   child, parent, CASE WHEN by_month THEN ' PARTITION BY RANGE (part_ts)' ELSE '' END);
    PERFORM fhir_copy_statistics_targets(parent, child);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%s)', parent, child, org);
  END IF;
  IF by_month THEN
    PERFORM fhir_create_overflow_partition(parent, org);
  END IF;
END $$;

-- The month partition holding `ts` for tenant `org`, of a resource table and all its side
-- tables; created if missing, safe to call concurrently. Rows of that month found in the
-- tenant's overflow partition move into the new month in the same transaction (pg_partman's
-- way): the overflow is locked first, so that no row of the month can arrive between the
-- move and the ATTACH (which would then fail), its rows of the month are moved into the
-- still detached table, and the ATTACH finds none left. The lock (ACCESS EXCLUSIVE, which the
-- ATTACH takes anyway) blocks statements reading the overflow only while the month is made.
CREATE OR REPLACE FUNCTION fhir_ensure_month_partition(parent text, org integer, ts timestamptz)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lo timestamptz := date_trunc('month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := lo + interval '1 month';
  suffix text := format('_o%s_%sm%s', org, to_char(lo AT TIME ZONE 'UTC', 'YYYY'),
                        to_char(lo AT TIME ZONE 'UTC', 'MM'));
  t text;
  overflow text;
  cols text;
BEGIN
  IF parent NOT IN ('encounters', 'observations', 'appointments', 'medication_requests', 'claims',
                    'audit_events') THEN
    RAISE EXCEPTION 'not a time-partitioned table: %', parent;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext(parent || suffix));
  FOR t IN SELECT $1 UNION ALL SELECT side FROM fhir_side_tables WHERE fhir_side_tables.parent = $1
  LOOP
    IF to_regclass(t || suffix) IS NOT NULL THEN
      CONTINUE;
    END IF;
    IF to_regclass(format('%s_o%s', t, org)) IS NULL THEN
      RAISE EXCEPTION 'tenant % has no partition of %', org, t;
    END IF;
    overflow := format('%s_o%s_default', t, org);
    IF to_regclass(overflow) IS NOT NULL THEN
      EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', overflow);
    END IF;
    BEGIN
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                     t || suffix, t);
    EXCEPTION WHEN duplicate_table THEN
      CONTINUE;   -- made by a session we waited for (see 0001)
    END;
    PERFORM fhir_copy_statistics_targets(t, t || suffix);
    IF to_regclass(overflow) IS NOT NULL THEN
      SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute WHERE attrelid = t::regclass AND attnum > 0 AND NOT attisdropped;
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE part_ts >= %L AND part_ts < %L RETURNING %s) '
                     'INSERT INTO %I (%s) SELECT %s FROM moved', overflow, lo, hi, cols, t || suffix, cols, cols);
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   format('%s_o%s', t, org), t || suffix, lo, hi);
  END LOOP;
  RETURN parent || suffix;
END $$;

-- Existing tenants: the overflow partition of every month-partitioned table they have.
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT t.table_name, o.org_id
           FROM (SELECT unnest(ARRAY['encounters', 'observations', 'appointments', 'medication_requests',
                                     'claims', 'audit_events']) AS table_name
                 UNION ALL
                 SELECT side FROM fhir_side_tables
                 WHERE parent IN ('encounters', 'observations', 'appointments', 'medication_requests',
                                  'claims', 'audit_events')) t
           CROSS JOIN tenants o
           WHERE pg_get_partkeydef(to_regclass(format('%s_o%s', t.table_name, o.org_id))) IS NOT NULL
           ORDER BY o.org_id, t.table_name
  LOOP
    PERFORM fhir_create_overflow_partition(r.table_name, r.org_id);
  END LOOP;
END $$;
