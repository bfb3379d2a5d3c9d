"""The class of every pooled connection: it remembers which tenant its session settings
name, so that a read skips the SET when the connection served that tenant last
(fhirserver/db/tenancy.py binds; fhirserver/db/pools.py creates)."""

from __future__ import annotations

import asyncpg


class TenantConnection(asyncpg.Connection):
    """A pooled connection that remembers which tenant its session settings name."""

    _tenant_org: int | None = None

    def bound_tenant(self) -> int | None:
        return self._tenant_org

    def bind_tenant(self, org_id: int | None) -> None:
        self._tenant_org = org_id
