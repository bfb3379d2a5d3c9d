"""The audit trail of accesses to health data: AuditEvents (events.py), written in the
background in batches by the AuditLog (log.py)."""

from fhirserver.audit.events import Access, Actor, audit_event, patients_in
from fhirserver.audit.log import AuditLog, AuditUnavailable

__all__ = ["Access", "Actor", "AuditLog", "AuditUnavailable", "audit_event", "patients_in"]
