-- 0007: Idempotency-Key on create. POST is not idempotent (http.html#create): a client whose
-- answer was lost cannot tell whether its resource was made, and a blind retry makes a
-- duplicate. With the same Idempotency-Key within a day, the retry gets the first answer.
-- The key is claimed in the create's own transaction, so the resource and its key commit
-- together or not at all, and a concurrent retry waits on the key's index entry.
-- Partitioned by tenant like every tenant table; rows live a day (the server deletes older ones).
CREATE TABLE idempotency_keys (
  org_id integer NOT NULL,
  key text COLLATE "C" NOT NULL,
  resource_type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, key)
) PARTITION BY LIST (org_id);
CREATE INDEX ON idempotency_keys (created);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO fhir_app;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
  USING (org_id = nullif(current_setting('fhir.org_id', true), '')::integer)
  WITH CHECK (org_id = nullif(current_setting('fhir.org_id', true), '')::integer);
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT org_id FROM tenants LOOP
    PERFORM fhir_create_org_partition('idempotency_keys', t.org_id, false);
  END LOOP;
END $$;
