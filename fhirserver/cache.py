"""The resource cache in Redis: read by id and vread, never stale after a write.

Keys carry versions. `…:{org}:{type}:{id}:v` names the current version, `…:r:{n}`
holds version n, which never changes once written (so vread entries can never be
wrong). A writer, once its transaction has committed and before it answers, raises
the `v` fence to the version it wrote; a reader that missed fills the cache only
with a version at least as new as the fence (both checks are Lua scripts, atomic in
Redis). So a reader that fetched version n from a lagging replica, or just before a
commit, cannot put n back over n+1, and no request after a successful write is
served an older version. The seed's `redis.del(key)` invalidation has exactly that
race, and its `KEYS pattern` invalidation blocks Redis for O(keys).

Redis failing never fails a request: the cache steps aside for `_PAUSE_S` and the
database answers. A fence that could not be written might leave an old version
current in Redis, so every process that saw Redis fail bumps the epoch (`fhir:e`,
part of every key) before it uses the cache again: all old entries become
unreachable at once. Bulk loads insert only ids not yet stored, which have no
entries, so they need no invalidation (fhirserver/bulk.py).

Immutable lookups stay in process memory, where they are cheaper than any network
hop: the CapabilityStatement (interactions/capabilities.py), the search-parameter
registry (loaded once), tenants (30 s, fhirserver/tenants.py).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fhirserver.db.resources import Stored

log = logging.getLogger(__name__)
_PAUSE_S = 1.0
_EPOCH = "fhir:e"

_GET = """
local e = redis.call('GET', KEYS[1]) or '0'
local base = 'fhir:' .. e .. ':' .. ARGV[1]
local v = ARGV[2]
if v == '' then
  v = redis.call('GET', base .. ':v')
  if not v then return {e} end
end
return {e, v, redis.call('GET', base .. ':r:' .. v)}
"""

_FILL = """
local base = 'fhir:' .. ARGV[1] .. ':' .. ARGV[2]
local v = tonumber(ARGV[3])
redis.call('SET', base .. ':r:' .. ARGV[3], ARGV[4], 'EX', ARGV[5])
if ARGV[6] == '1' and v >= tonumber(redis.call('GET', base .. ':v') or '0') then
  redis.call('SET', base .. ':v', ARGV[3], 'EX', ARGV[5])
end
return 1
"""

_FENCE = """
local e = redis.call('GET', KEYS[1]) or '0'
for i = 2, #ARGV, 2 do
  local key = 'fhir:' .. e .. ':' .. ARGV[i] .. ':v'
  if tonumber(ARGV[i + 1]) > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[1])
  end
end
return 1
"""


def _encode(stored: Stored) -> bytes:
    return stored.last_updated.isoformat().encode() + b"\n" + stored.resource.encode()


def _decode(id_: str, version: int, payload: bytes) -> Stored:
    stamp, _, resource = payload.partition(b"\n")
    return Stored(id_, version, datetime.fromisoformat(stamp.decode()), resource.decode())


class ResourceCache:
    """Versioned resource entries in Redis; every method is a no-op without Redis."""

    def __init__(self, client: aioredis.Redis | None, ttl_s: int = 900) -> None:
        self.client, self.ttl_s = client, ttl_s
        self.hits = self.misses = self.errors = 0
        self._paused_until = 0.0
        self._epoch_stale = False       # Redis failed here: bump the epoch before trusting it
        if client is not None:
            self._get = client.register_script(_GET)
            self._fill = client.register_script(_FILL)
            self._fence = client.register_script(_FENCE)

    @classmethod
    def connect(cls, url: str | None, ttl_s: int = 900) -> "ResourceCache":
        if not url:
            return cls(None)
        # Short timeouts: a Redis that hangs must cost a request milliseconds, not seconds.
        client = aioredis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2,
                                         health_check_interval=0)
        return cls(client, ttl_s)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    async def _usable(self) -> bool:
        if self.client is None or time.monotonic() < self._paused_until:
            return False
        if self._epoch_stale:
            try:
                await self.client.incr(_EPOCH)
            except RedisError as exc:
                self._failed(exc)
                return False
            self._epoch_stale = False
        return True

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if time.monotonic() >= self._paused_until:
            log.warning("Redis unavailable, serving from the database: %s", exc)
        self._paused_until = time.monotonic() + _PAUSE_S
        self._epoch_stale = True

    async def read(self, org_id: int, resource_type: str, id_: str, version: int | None = None
                   ) -> tuple[Stored | None, str | None]:
        """(the cached current version, or version `version`; the epoch to fill under)."""
        if not await self._usable():
            return None, None
        try:
            found = await self._get(keys=[_EPOCH], args=[f"{org_id}:{resource_type}:{id_}",
                                                        "" if version is None else str(version)])
        except RedisError as exc:
            self._failed(exc)
            return None, None
        epoch = found[0].decode()
        if len(found) < 3 or found[2] is None:
            self.misses += 1
            return None, epoch
        self.hits += 1
        return _decode(id_, int(found[1]), found[2]), epoch

    async def fill(self, epoch: str | None, org_id: int, resource_type: str, stored: Stored, current: bool) -> None:
        """Cache a version read from the database; `current` when it was read as the newest."""
        if epoch is None or stored.resource is None or not await self._usable():
            return
        try:
            await self._fill(args=[epoch, f"{org_id}:{resource_type}:{stored.id}", stored.version_id,
                                   _encode(stored), self.ttl_s, "1" if current else "0"])
        except RedisError as exc:
            self._failed(exc)

    async def written(self, org_id: int, versions: list[tuple[str, str, int]]) -> None:
        """Raise the fences after a commit: older versions stop being current in the cache."""
        if self.client is None:
            return
        args: list = [self.ttl_s]
        for resource_type, id_, version in versions:
            args += [f"{org_id}:{resource_type}:{id_}", version]
        if not await self._usable():
            self._epoch_stale = True   # the fence is lost: old entries must not be trusted later
            return
        try:
            await self._fence(keys=[_EPOCH], args=args)
        except RedisError as exc:
            self._failed(exc)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
