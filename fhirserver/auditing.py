"""One request's entry in the audit trail: who (the token's principal), from where (the
client address), what (the resources read or written, the search query, the patients
whose data was touched), which tenant, and the outcome, refusals (401/403) included.

The event is built here and handed to the AuditLog (fhirserver/audit/log.py), which
writes it off the request's path. If the trail cannot be written, health data is not
served: `check_ready` answers 503 before the handler runs, and a read whose event
cannot be queued is answered 503 instead of its data. A full queue is not a failure: the
request waits for room (at most QUEUE_WAIT_S), so load slows answers down rather than
refusing them. A committed write keeps its answer
(reporting it as failed would invite a duplicate) and the lost event is logged loudly.
FHIR_AUDIT_FAIL_OPEN=true serves unaudited instead (unsafe; for break-glass only).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from fhirserver.audit.events import Access as Touched
from fhirserver.audit.events import Actor, audit_event, patients_in
from fhirserver.audit.log import AuditUnavailable
from fhirserver.outcomes import Category, FhirError, Issue
from fhirserver.responses import error_response

log = logging.getLogger(__name__)
MAX_ENTITIES = 200   # a page of 1,000 includes still names at most this many resources
QUEUE_WAIT_S = 5.0   # how long a read waits for room in a full audit queue before 503
WRITE_WAIT_S = 60.0  # a committed write waits longer: its answer stands, its event must not be lost
QUERIES = frozenset(("search-type", "search-system", "history-type", "history-system"))


def _unavailable() -> FhirError:
    return FhirError(Category.UNAVAILABLE, [Issue(
        "transient", "The audit trail cannot be written now, so health data is not served; retry shortly",
        "AUDIT-UNAVAILABLE")], {"Retry-After": "5"})


class Trail:
    """Collects what one request did and records it once the response is known."""

    __slots__ = ("services", "request", "slug", "base_url", "route", "args", "access", "ctx")

    def __init__(self, services, request: Request, slug: str, base_url: str, route, args: list) -> None:
        self.services, self.request, self.slug, self.base_url = services, request, slug, base_url
        self.route, self.args = route, args
        self.access = self.ctx = None

    def check_ready(self) -> None:
        audit = self.services.audit
        if audit is None or self.services.settings.audit_fail_open:
            return
        try:
            audit.check()   # unhealthy or closing: serve nothing
        except AuditUnavailable:
            raise _unavailable() from None

    async def record(self, response: Response) -> Response:
        audit = self.services.audit
        if audit is None:
            return response
        org_id = await self._org_id()
        if org_id is None:
            return response   # no such organisation: nothing of anyone's was touched
        event = self._event(response.status_code, datetime.now(timezone.utc))
        committed = self.ctx is not None and bool(self.ctx.effects.written or self.ctx.effects.lsn)
        try:
            if self.services.settings.audit_fail_open:
                audit.record(org_id, self.base_url, event, strict=False)
            else:
                await audit.put(org_id, self.base_url, event, wait=WRITE_WAIT_S if committed else QUEUE_WAIT_S)
        except AuditUnavailable:
            if committed:
                log.error("AUDIT EVENT LOST for a committed write by %s in %s", self._actor().sub, self.slug)
            else:
                return error_response(_unavailable())
        return response

    async def _org_id(self) -> int | None:
        if self.ctx is not None:
            return self.ctx.org_id
        tenant = await self.services.tenants.get(self.slug)
        return tenant.org_id if tenant is not None else None

    def _actor(self) -> Actor:
        client = self.request.scope.get("client")
        principal = self.access.principal if self.access is not None else None
        if principal is None:
            # refused before anyone was identified (no token, or a bad one): "unidentified"
            return Actor(None, None, None, client[0] if client else None, anonymous=False)
        return Actor(principal.sub, principal.client_id, principal.fhir_user, client[0] if client else None,
                     anonymous=principal.anonymous, issuer=principal.issuer)

    def _event(self, status: int, recorded: datetime):
        """A builder of the request's events, called by the audit writer: the regexes over what
        was read and the dicts run off the request's path. What it reads is final once the
        response is: the request's effects are not touched again."""
        return lambda: self._build(status, recorded)

    def _build(self, status: int, recorded: datetime) -> list[dict]:
        """The request's event; for a Bundle that succeeded, also one event per entry (each
        with its own interaction and outcome). A failed transaction ran nothing that stands:
        its one event says so."""
        effects = self.ctx.effects if self.ctx is not None else None
        if effects is None:
            return [self._describe(self.route, self.args, status, (0, 0), (0, 0), None, recorded)]
        if status >= 400 and effects.interaction == "transaction":   # rolled back: nothing stands
            return [self._describe(self.route, self.args, status, (0, 0), (0, 0), None, recorded, "transaction")]
        events = [self._describe(self.route, self.args, status, (0, len(effects.seen)), (0, len(effects.written)),
                                 effects.query, recorded, effects.interaction)]
        if status < 400:
            events += [self._describe(e.route, e.args, e.status, e.seen, e.written, e.query, recorded)
                       for e in effects.entries if e.route is not None]
        return events

    def _describe(self, route, args, status: int, seen: tuple[int, int], written: tuple[int, int],
                  query: str | None, recorded: datetime, interaction: str | None = None) -> dict:
        interaction = interaction or route.interaction or _operation(route)
        touched, patients = [], set()
        if self.ctx is not None:
            effects = self.ctx.effects
            for type_, id_, text in effects.seen[seen[0]:min(seen[1], seen[0] + MAX_ENTITIES)]:
                if interaction not in QUERIES:   # a query is named by itself and its patients (BALP)
                    touched.append(f"{type_}/{id_}")
                patients |= patients_in(type_, id_, text)
            for type_, id_, _ in effects.written[written[0]:min(written[1], written[0] + MAX_ENTITIES)]:
                touched.append(f"{type_}/{id_}")
                if type_ == "Patient":
                    patients.add(f"Patient/{id_}")
        resource_type = args[0].resource_type if route.shape[:1] == ("{type}",) else None
        if route.level == "instance" and not touched and resource_type:
            touched.append(f"{resource_type}/{args[1]}")   # refused or not found: what was asked for
        what = Touched(interaction, resource_type, tuple(dict.fromkeys(touched)),
                       query, tuple(sorted(patients))[:MAX_ENTITIES], status, self.slug, self.base_url)
        return audit_event(self._actor(), what, recorded)


def _operation(route) -> str:
    name = route.handler.__name__
    if name == "search_compartment":
        return "search-type"
    if name in ("conditional_update", "conditional_delete"):
        return name.split("_")[1]
    return "operation"
