"""The request context: the one place that holds the request's tenant and user."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import asyncpg
from starlette.datastructures import Headers

from fhirserver.audit.log import AuditLog
from fhirserver.auth.access import Access
from fhirserver.auth.gate import Gate
from fhirserver.cache import ResourceCache
from fhirserver.db.partitions import PartitionCache
from fhirserver.db.pools import Database, parse_lsn
from fhirserver.headers import Prefer
from fhirserver.ratelimit import RateLimiter
from fhirserver.routing import RouteTable
from fhirserver.settings import Settings
from fhirserver.tenants import Tenant, TenantDirectory

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Long-lived state of one worker process, opened by the app's lifespan."""

    settings: Settings
    db: Database
    tenants: TenantDirectory
    partitions: PartitionCache
    cache: ResourceCache = field(default_factory=lambda: ResourceCache(None))   # no-op without REDIS_URL
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None, 0))
    gate: Gate | None = None               # bearer tokens -> Access
    audit: AuditLog | None = None          # the audit trail's writer
    routes: RouteTable | None = None       # for handlers that route again (Bundle entries) or list routes
    inflight: int = 0                      # requests this worker is working on now (routes.dispatch)


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One Bundle entry as the audit trail needs it: its route and arguments (None when the
    entry named no interaction), its status, and its share of the request's `seen` and
    `written` lists ([start, end) offsets) and search query."""

    route: object | None
    args: tuple
    status: int
    seen: tuple[int, int]
    written: tuple[int, int]
    query: str | None


@dataclass(eq=False)
class Effects:
    """What a request changed, gathered while it runs (a Bundle's entries share one):
    the WAL position past its last commit, and the versions it wrote, for the cache."""

    lsn: int | None = None
    written: list[tuple[str, str, int]] = field(default_factory=list)   # (type, id, version)
    # For the audit trail: what was read (type, id, JSON text) and the search query.
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    query: str | None = None
    entries: list[EntryRecord] = field(default_factory=list)   # a Bundle's, one per entry run
    interaction: str | None = None   # what the handler found it was ("batch": the Bundle route serves both)

    async def committed(self, conn: asyncpg.Connection) -> None:
        # After COMMIT the insert position is at or past the commit record, so a replica
        # that has replayed it has replayed the commit.
        try:
            lsn = parse_lsn(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        except Exception as exc:   # committed all the same: nothing after COMMIT may fail the request
            log.warning("no consistency token for a committed write: %s: %s", type(exc).__name__, exc)
            return
        self.lsn = max(self.lsn or 0, lsn)

    def wrote(self, resource_type: str, id_: str, version: int) -> None:
        self.written.append((resource_type, id_, version))

    def saw(self, resource_type: str, id_: str, text: str) -> None:
        self.seen.append((resource_type, id_, text))


@dataclass(frozen=True, slots=True)
class RequestContext:
    services: Services
    tenant: Tenant
    base_url: str                          # absolute FHIR base of this tenant, no trailing slash
    method: str
    params: tuple[tuple[str, str], ...]    # query items in order
    headers: Headers
    prefer: Prefer
    media_type: str                        # what we answer with
    pretty: bool
    body: bytes = b""
    access: Access | None = None           # who calls and what they may see (fhirserver/auth)
    unit: object | None = None             # interactions.units.Unit inside a transaction Bundle
    assigned_id: str | None = None         # a create's id, chosen in advance by a transaction Bundle
    consistency: int | None = None         # X-Consistency-Token: reads see at least this WAL position
    effects: Effects = field(default_factory=Effects)

    @property
    def org_id(self) -> int:
        return self.tenant.org_id

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None
