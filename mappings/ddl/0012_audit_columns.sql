-- 0012: an AuditEvent is written for every access to health data, so each of its index rows
-- is paid on every request. Its searches are now answered from its own columns
-- (searchparams.catalog.COLUMN_ONLY: action, outcome, date, type, subtype) and ten rarely
-- useful parameters are no longer indexed (catalog.NOT_INDEXED): an event writes its row and
-- a few reference rows (agent, entity, patient) instead of about twenty side rows.
-- `recorded_end` keeps the end of `recorded`'s precision, so a date search is exact for an
-- event a client stored with a coarse instant. The server fills the new columns at start
-- (the AuditEvent index signature changed: fhirserver/db/reindex.py).
ALTER TABLE audit_events ADD COLUMN recorded_end timestamptz, ADD COLUMN type text[], ADD COLUMN subtype text[];
CREATE INDEX ON audit_events (recorded);

-- The string and date side tables indexed only parameters that are now column-only or not
-- indexed. Dropping the parents drops every tenant's and month's partitions with them.
DELETE FROM fhir_side_tables WHERE side IN ('audit_events_str', 'audit_events_date');
DROP TABLE audit_events_str, audit_events_date;
