-- 0010: the reference index's reverse key carries the referring type, so the types that
-- refer to a resource are read from the index alone, one probe per type (a loose index scan,
-- mappings/sql.py REFS_SOURCE_TYPES): $everything searches only the compartment types that
-- hold a resource referring to the patient, of the 66 R4 lists. The old (target_type,
-- target_id) index is a prefix of this one, so every query that used it uses this.
CREATE INDEX resource_refs_target_source ON resource_refs (target_type, target_id, source_type, source_id);
DROP INDEX resource_refs_target_type_target_id_idx;
