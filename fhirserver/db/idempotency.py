"""Idempotency keys of creates (migration 0007): claimed in the create's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

WINDOW = timedelta(days=1)   # a retry within a day gets the first answer; later, the key is free again

# A new key, or one older than the window, is ours; a live one is another request's. An
# uncommitted claim by a concurrent request makes this wait until that request ends.
_CLAIM = """
INSERT INTO idempotency_keys (org_id, key, resource_type, id) VALUES ($1, $2, $3, '')
ON CONFLICT (org_id, key) DO UPDATE SET resource_type = EXCLUDED.resource_type, id = '', created = now()
  WHERE idempotency_keys.created < now() - $4::interval
RETURNING 1"""
_FIRST = "SELECT resource_type, id FROM idempotency_keys WHERE org_id = $1 AND key = $2"
_RECORD = "UPDATE idempotency_keys SET id = $3 WHERE org_id = $1 AND key = $2"
_EXPIRE = "DELETE FROM idempotency_keys WHERE created < now() - $1::interval"


@dataclass(frozen=True, slots=True)
class Earlier:
    """What the first request with this key created."""

    resource_type: str
    id: str


async def claim(conn: asyncpg.Connection, org_id: int, key: str, resource_type: str) -> Earlier | None:
    """None: the key is ours, create and `record`. Else what the first request created."""
    if await conn.fetchval(_CLAIM, org_id, key, resource_type, WINDOW):
        return None
    row = await conn.fetchrow(_FIRST, org_id, key)
    return Earlier(row[0], row[1])


async def record(conn: asyncpg.Connection, org_id: int, key: str, id_: str) -> None:
    await conn.execute(_RECORD, org_id, key, id_)


async def expire(conn: asyncpg.Connection) -> int:
    """Delete the keys older than the window (as the owner: every tenant's); how many."""
    return int((await conn.execute(_EXPIRE, WINDOW)).split()[-1])
