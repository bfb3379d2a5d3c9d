"""The request context: the one place that holds the request's tenant and user."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import Headers

from fhirserver.db.partitions import PartitionCache
from fhirserver.db.pools import Database
from fhirserver.headers import Prefer
from fhirserver.settings import Settings
from fhirserver.tenants import Tenant, TenantDirectory


@dataclass
class Services:
    """Long-lived state of one worker process, opened by the app's lifespan."""

    settings: Settings
    db: Database
    tenants: TenantDirectory
    partitions: PartitionCache


@dataclass(frozen=True, slots=True)
class User:
    """Who is calling. Authentication (SMART on FHIR) fills this in a later issue."""

    id: str = "anonymous"
    scopes: tuple[str, ...] = ()


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
    user: User = field(default_factory=User)
    unit: object | None = None             # interactions.units.Unit inside a transaction Bundle
    assigned_id: str | None = None         # a create's id, chosen in advance by a transaction Bundle

    @property
    def org_id(self) -> int:
        return self.tenant.org_id

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None
