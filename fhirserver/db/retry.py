"""Retrying a write transaction that lost a race, and naming the races we cannot retry."""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

import asyncpg

from fhirserver.outcomes import Category, FhirError

T = TypeVar("T")
_ATTEMPTS = 4


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` again when PostgreSQL reports a serialization failure, a deadlock, a
    concurrent creation of the same primary key (the retry then finds the row and updates it),
    or a month partition made while the transaction already held its parent (a transaction
    keeps the partition list it saw; the next one sees the new partition)."""
    for n in range(_ATTEMPTS):
        try:
            return await attempt()
        except asyncpg.CheckViolationError as exc:
            # A write into the overflow partition that waited while that month was made
            # (db/partitions.py) meets the default's new constraint: the retry routes it.
            if ("no partition" not in str(exc) and '_default" violates partition constraint' not in str(exc)) \
                    or n == _ATTEMPTS - 1:
                raise
        except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError):
            if n == _ATTEMPTS - 1:
                raise FhirError.of(Category.CONFLICT, "transient", "DB-CONTENTION",
                                   "The resource was changed concurrently; retry the request") from None
        except asyncpg.UniqueViolationError as exc:
            name = exc.constraint_name or ""
            if "mrn" in name:
                raise FhirError.of(Category.CONFLICT, "duplicate", "RES-DUPLICATE-MRN",
                                   "Another Patient of this organisation has the same MRN "
                                   "(identifier typed MR)") from None
            if not name.endswith("_pkey") or n == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
