"""All configuration, read from the environment once into one frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed server settings, read from the environment by `from_env`."""

    database_url: str | None = None           # DATABASE_URL; None = embedded PostgreSQL
    data_dir: Path = Path(".fhirserver")       # FHIR_DATA_DIR: embedded cluster lives in data_dir/pg
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str | None = None         # FHIR_BASE_URL: absolute base for links, else from Host
    max_body_bytes: int = 16 * 1024 * 1024     # FHIR_MAX_BODY_BYTES -> 413 above this
    pool_min: int = 2
    pool_max: int = 20                         # FHIR_POOL_MAX connections per worker
    pool_wait_s: float = 5.0                   # FHIR_POOL_WAIT_S: a request waits this long for a connection, then 503
    max_inflight: int = 256                    # FHIR_MAX_INFLIGHT: requests a worker works on at once; more get 503
    statement_timeout_s: float = 30.0          # FHIR_STATEMENT_TIMEOUT_S: no statement holds a connection longer
    db_wait_s: float = 60.0                    # FHIR_DB_WAIT_S: at start, how long to wait for DATABASE_URL to answer
    referential_integrity: bool = True         # FHIR_REFERENTIAL_INTEGRITY
    default_tenant: str = "default"
    months_ahead: int = 3                      # time partitions created ahead of now
    workers: int = 1                           # FHIR_WORKERS (uvicorn processes)
    replica_urls: tuple[str, ...] = ()         # DATABASE_REPLICA_URLS, comma-separated: reads go there
    replica_max_lag_s: float = 10.0            # FHIR_REPLICA_MAX_LAG_S: further behind leaves the rotation
    token_wait_s: float = 0.25                 # FHIR_CONSISTENCY_WAIT_S: a token read waits for a replica
    pooler: bool = False                       # FHIR_DB_POOLER=pgbouncer: transaction-mode pooler in front
    redis_url: str | None = None               # REDIS_URL: resource cache and rate limits in Redis
    cache_ttl_s: int = 900                     # FHIR_CACHE_TTL_S: cached versions expire (seed: 15 min)
    rate_limit: int = 0                        # FHIR_RATE_LIMIT: requests per client per minute; 0 = off
    auth_issuer: str | None = None             # FHIR_AUTH_ISSUER: the trusted authorization server's `iss`
    auth_jwks: str | None = None               # FHIR_AUTH_JWKS: its keys, an https URL or a file path
    auth_audience: str | None = None           # FHIR_AUTH_AUDIENCE: one more accepted `aud` (a gateway's)
    auth_authorize_url: str | None = None      # FHIR_AUTH_AUTHORIZE_URL: advertised in SMART discovery
    auth_token_url: str | None = None          # FHIR_AUTH_TOKEN_URL: advertised in SMART discovery
    allow_anonymous: bool = False              # --allow-anonymous: start off loopback with no issuer
    cors_origins: tuple[str, ...] = ()         # FHIR_CORS_ORIGINS, comma-separated browser origins
    audit_fail_open: bool = False              # FHIR_AUDIT_FAIL_OPEN: serve unaudited if the audit fails (unsafe)
    audit_queue: int = 10000                   # FHIR_AUDIT_QUEUE: audit events waiting to be written, at most
    clinical_earliest_year: int = 1900         # FHIR_CLINICAL_EARLIEST_YEAR: earlier times go to overflow
    clinical_years_ahead: int = 2              # FHIR_CLINICAL_YEARS_AHEAD: later times go to overflow

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        values = dict(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("FHIR_DATA_DIR", ".fhirserver")),
            host=env.get("FHIR_HOST", "127.0.0.1"),
            port=int(env.get("FHIR_PORT", "8080")),
            public_base_url=env.get("FHIR_BASE_URL") or None,
            max_body_bytes=int(env.get("FHIR_MAX_BODY_BYTES", str(16 * 1024 * 1024))),
            pool_max=int(env.get("FHIR_POOL_MAX", "20")),
            pool_wait_s=float(env.get("FHIR_POOL_WAIT_S", "5")),
            max_inflight=int(env.get("FHIR_MAX_INFLIGHT", "256")),
            statement_timeout_s=float(env.get("FHIR_STATEMENT_TIMEOUT_S", "30")),
            db_wait_s=float(env.get("FHIR_DB_WAIT_S", "60")),
            referential_integrity=_bool(env.get("FHIR_REFERENTIAL_INTEGRITY"), True),
            workers=int(env.get("FHIR_WORKERS", "1")),
            replica_urls=tuple(u.strip() for u in env.get("DATABASE_REPLICA_URLS", "").split(",") if u.strip()),
            replica_max_lag_s=float(env.get("FHIR_REPLICA_MAX_LAG_S", "10")),
            token_wait_s=float(env.get("FHIR_CONSISTENCY_WAIT_S", "0.25")),
            pooler=env.get("FHIR_DB_POOLER", "").strip().lower() == "pgbouncer",
            redis_url=env.get("REDIS_URL") or None,
            cache_ttl_s=int(env.get("FHIR_CACHE_TTL_S", "900")),
            rate_limit=int(env.get("FHIR_RATE_LIMIT", "0")),
            auth_issuer=env.get("FHIR_AUTH_ISSUER") or None,
            auth_jwks=env.get("FHIR_AUTH_JWKS") or None,
            auth_audience=env.get("FHIR_AUTH_AUDIENCE") or None,
            auth_authorize_url=env.get("FHIR_AUTH_AUTHORIZE_URL") or None,
            auth_token_url=env.get("FHIR_AUTH_TOKEN_URL") or None,
            cors_origins=tuple(o.strip() for o in env.get("FHIR_CORS_ORIGINS", "").split(",") if o.strip()),
            audit_fail_open=_bool(env.get("FHIR_AUDIT_FAIL_OPEN"), False),
            audit_queue=int(env.get("FHIR_AUDIT_QUEUE", "10000")),
            clinical_earliest_year=int(env.get("FHIR_CLINICAL_EARLIEST_YEAR", "1900")),
            clinical_years_ahead=int(env.get("FHIR_CLINICAL_YEARS_AHEAD", "2")),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
