-- 0011: drop the hot columns no search reads, and stop writing them. A bound column
-- (mappings/bindings.py) is read by the compiler's fast path; these never were: identifiers
-- (token searches read the side tables), names, categories, values, the other references
-- of appointments and encounters, the audit event's type/agent/entity. 0008 dropped their
-- indexes; the columns still cost every write and every row's width. Patient.mrn stays: its
-- unique index keeps an MRN unique within a tenant. DROP COLUMN only marks the columns
-- dropped (no table rewrite); their space returns as rows are rewritten.

ALTER TABLE organizations DROP COLUMN identifiers, DROP COLUMN name, DROP COLUMN active;
ALTER TABLE locations DROP COLUMN identifiers, DROP COLUMN name;
ALTER TABLE practitioners DROP COLUMN identifiers, DROP COLUMN family, DROP COLUMN given, DROP COLUMN active;
ALTER TABLE patients DROP COLUMN identifiers, DROP COLUMN family, DROP COLUMN given, DROP COLUMN active;
ALTER TABLE encounters DROP COLUMN identifiers, DROP COLUMN class, DROP COLUMN practitioner, DROP COLUMN location;
ALTER TABLE observations DROP COLUMN identifiers, DROP COLUMN category, DROP COLUMN value_num, DROP COLUMN value_unit;
ALTER TABLE appointments DROP COLUMN identifiers, DROP COLUMN end_ts, DROP COLUMN patient, DROP COLUMN practitioner, DROP COLUMN location;
ALTER TABLE medication_requests DROP COLUMN identifiers, DROP COLUMN authored_on;
ALTER TABLE claims DROP COLUMN identifiers, DROP COLUMN created;
-- That dropped (patient, created) with it: a patient's claims keep an index of their own.
CREATE INDEX claims_patient_idx ON claims (patient);
ALTER TABLE audit_events DROP COLUMN type, DROP COLUMN agent, DROP COLUMN entity;
