-- 0008: indexes on columns that no search reads. Every search answers these parameters
-- from the side tables (mappings/bindings.py binds only single-valued elements), so these
-- indexes were only written, on every create and update: identifiers (GIN) on five
-- tables, names, an encounter's and an appointment's practitioner, patient and location,
-- and the audit trail's agent and entity arrays (GIN, written for every access to health
-- data). The columns stay for now: the index signature counts a type's columns, and
-- dropping one would make every server rewrite every resource of the type at start.
-- tests/integration/test_schema.py keeps a new index from leading with an unread column.
DO $$
DECLARE ix record;
BEGIN
  FOR ix IN
    SELECT i.relname AS name
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid AND NOT t.relispartition
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
    WHERE (t.relname, a.attname) IN (
      ('organizations', 'identifiers'), ('organizations', 'name'), ('locations', 'identifiers'),
      ('practitioners', 'identifiers'), ('practitioners', 'family'), ('patients', 'identifiers'),
      ('patients', 'family'), ('encounters', 'identifiers'), ('encounters', 'practitioner'),
      ('appointments', 'practitioner'), ('appointments', 'patient'), ('appointments', 'location'),
      ('audit_events', 'agent'), ('audit_events', 'entity'))
  LOOP
    EXECUTE format('DROP INDEX %I', ix.name);
  END LOOP;
END $$;
