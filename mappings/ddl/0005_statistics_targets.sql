-- 0005: finer statistics where LIKE '%..%' estimates decide plans, kept on new partitions.
-- ANALYZE samples at random, and a `norm LIKE '%am42%'` (name:contains) estimate read from
-- the default 100-entry histogram jumps between runs; when it comes out high, the planner
-- walks the primary key in id order for `ORDER BY id LIMIT n` and filters every patient
-- instead of using the trigram index. 1000 entries make the estimate stable.
-- PostgreSQL does not copy per-column statistics targets to partitions created later
-- (CREATE TABLE .. LIKE, then ATTACH), so both partition functions now copy them.
-- CREATE OR REPLACE needs whole bodies: they repeat 0001's and 0003's, plus one line each.

CREATE FUNCTION fhir_copy_statistics_targets(parent text, child text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
  FOR a IN SELECT attname, attstattarget FROM pg_attribute
           WHERE attrelid = parent::regclass AND attnum > 0 AND NOT attisdropped
             AND attstattarget IS NOT NULL AND attstattarget >= 0
  LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s', child, a.attname, a.attstattarget);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION fhir_create_org_partition(parent text, org integer, by_month boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE child text := format('%s_o%s', parent, org);
BEGIN
  IF to_regclass(child) IS NOT NULL THEN RETURN; END IF;
  -- CREATE + ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent, where
  -- CREATE TABLE .. PARTITION OF would block every reader of the parent.
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)%s',
                 child, parent, CASE WHEN by_month THEN ' PARTITION BY RANGE (part_ts)' ELSE '' END);
  PERFORM fhir_copy_statistics_targets(parent, child);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%s)', parent, child, org);
END $$;

CREATE OR REPLACE FUNCTION fhir_ensure_month_partition(parent text, org integer, ts timestamptz)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lo timestamptz := date_trunc('month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := lo + interval '1 month';
  suffix text := format('_o%s_%sm%s', org, to_char(lo AT TIME ZONE 'UTC', 'YYYY'),
                        to_char(lo AT TIME ZONE 'UTC', 'MM'));
  t text;
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
    BEGIN
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                     t || suffix, t);
    EXCEPTION WHEN duplicate_table THEN
      CONTINUE;   -- made by a session we waited for (see 0001)
    END;
    PERFORM fhir_copy_statistics_targets(t, t || suffix);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   format('%s_o%s', t, org), t || suffix, lo, hi);
  END LOOP;
  RETURN parent || suffix;
END $$;

-- The string side tables (ALTER on a partitioned table reaches its existing partitions).
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT side FROM fhir_side_tables WHERE side LIKE '%\_str' LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN norm SET STATISTICS 1000', s);
  END LOOP;
END $$;
