"""Tenants: each is one organisation (the seed's org), reached at the URL base /{slug}.

`TenantDirectory` answers slug -> Tenant for requests from a short-lived cache;
`create_tenant` is the administrative path (CLI and first start) and runs on an
owner connection, because it creates partitions.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import asyncpg

from fhirserver.db.partitions import create_tenant_partitions
from fhirserver.db.pools import CONNECTION_ERRORS, Database, Route

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TTL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Tenant:
    org_id: int
    slug: str
    name: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


class TenantDirectory:
    """Read from a replica when there is one (so requests go on while the primary is
    away), from the primary when the replica does not know the slug yet or fails."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Tenant | None]] = {}

    async def get(self, slug: str) -> Tenant | None:
        hit = self._cache.get(slug)
        now = time.monotonic()
        if hit and now - hit[0] < _TTL_SECONDS:
            return hit[1]
        if not SLUG.fullmatch(slug):
            return None
        row = None
        for server in dict.fromkeys((self._db.choose(Route.READ), self._db.primary)):
            try:
                row = await server.pool.fetchrow("SELECT org_id, slug, name, status FROM tenants WHERE slug = $1",
                                                 slug)
            except CONNECTION_ERRORS:
                if server is self._db.primary:
                    raise
                await self._db.lost(server)
                continue
            if row is not None:
                break
        tenant = Tenant(**dict(row)) if row else None
        if tenant is not None:   # unknown slugs are not cached: a tenant created later works at once
            self._cache[slug] = (now, tenant)
        return tenant


async def create_tenant(conn: asyncpg.Connection, slug: str, name: str | None = None, *,
                        months_ahead: int = 3) -> Tenant:
    """Create the tenant and all its partitions; an existing slug is returned unchanged."""
    if not SLUG.fullmatch(slug):
        raise ValueError(f"invalid tenant slug {slug!r}: use lower-case letters, digits and '-'")
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO tenants (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING "
            "RETURNING org_id, slug, name, status", slug, name or slug)
        if row is None:
            row = await conn.fetchrow("SELECT org_id, slug, name, status FROM tenants WHERE slug = $1", slug)
        tenant = Tenant(**dict(row))
        await create_tenant_partitions(conn, tenant.org_id, months_ahead)
    return tenant
