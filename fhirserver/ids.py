"""Server-assigned resource ids that say which month partition holds the resource.

A server id is an RFC 9562 UUIDv8 (custom layout) written in the usual 8-4-4-4-12 form:

    bits 0-15   month index (months since 1800-01) of the resource's clinical time
    bits 16-47  creation time in seconds since 2020-01-01 (mod 2^32): ids of one
                month partition grow with insertion time, so B-tree inserts append
    bits 48-51  version 8;  bits 52-63 random;  bits 64-65 variant;  66-127 random

74 random bits make collisions negligible. Reading `Observation/{id}` decodes the
month and probes one partition. Ids chosen by clients (update-as-create) carry no
such promise; they are found through the id directory instead (see db/resources.py).
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone

EPOCH_YEAR = 1800
MAX_MONTH = (1 << 16) - 1
_CREATED_EPOCH = 1577836800  # 2020-01-01T00:00:00Z
_SERVER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def month_start(index: int) -> datetime:
    return datetime(EPOCH_YEAR + index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def clamp(ts: datetime) -> datetime:
    """The partition time of a clinical time: within the months a server id can name."""
    return min(max(ts, PART_TS_MIN), PART_TS_MAX)


def month_index(ts: datetime) -> int:
    """Months since 1800-01 (UTC), clamped to what 16 bits hold."""
    ts = ts.astimezone(timezone.utc)
    return min(max((ts.year - EPOCH_YEAR) * 12 + ts.month - 1, 0), MAX_MONTH)


PART_TS_MIN = month_start(0)
PART_TS_MAX = month_start(MAX_MONTH + 1) - timedelta(microseconds=1)


class _Entropy:
    """Random bits from the OS's CSPRNG, read 4 KiB at a time: one getrandom() call per id
    cost more than the rest of making it (the audit trail makes one per request). A forked
    child starts with an empty buffer, so it never repeats its parent's bits."""

    def __init__(self) -> None:
        self.buffer, self.at = b"", 0
        self.lock = threading.Lock()   # two threads must never take the same bits
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.buffer, self.at, self.lock = b"", 0, threading.Lock()

    def bits74(self) -> int:
        with self.lock:
            if self.at + 10 > len(self.buffer):
                self.buffer, self.at = os.urandom(4096), 0
            chunk = self.buffer[self.at:self.at + 10]
            self.at += 10
        return int.from_bytes(chunk, "big") >> 6


_ENTROPY = _Entropy()


def new_id(part_ts: datetime) -> str:
    """A fresh server id for a resource whose partition time is `part_ts`."""
    created = (int(time.time()) - _CREATED_EPOCH) & 0xFFFFFFFF
    high = (month_index(part_ts) << 32) | created
    rand = _ENTROPY.bits74()
    value = (high << 80) | (0x8 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def month_of(id_: str) -> int | None:
    """The month index a server id encodes, or None for any other id."""
    if len(id_) != 36 or not _SERVER_ID.fullmatch(id_):
        return None
    return int(id_[:4], 16)
