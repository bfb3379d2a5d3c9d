"""The `fhirserver` command and its subcommands (`fhirserver --help` lists them)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

from fhirserver import bootstrap
from fhirserver.app import DSN_ENV
from fhirserver.db import datadir
from fhirserver.db.supervisor import Supervisor
from fhirserver.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None),
                             data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
                             workers=getattr(args, "workers", None))


def _tenant_base(settings: Settings, slug: str) -> str:
    root = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    return f"{root.rstrip('/')}/{slug}"


def _check_exposure(settings: Settings, allow_anonymous: bool) -> None:
    """No issuer means anonymous loopback callers are served: refuse any other address
    unless the operator says so (remote callers still need a token then)."""
    from fhirserver.auth.gate import is_loopback
    if settings.auth_issuer:
        return
    if not is_loopback(settings.host) and not allow_anonymous:
        raise SystemExit(f"fhirserver: refusing to listen on {settings.host} with no FHIR_AUTH_ISSUER: "
                         "set FHIR_AUTH_ISSUER and FHIR_AUTH_JWKS, or pass --allow-anonymous "
                         "(anonymous access stays limited to loopback callers)")
    print("fhirserver: no FHIR_AUTH_ISSUER: anonymous requests are served on loopback only; "
          "other callers need a token from `fhirserver token`", flush=True)


def serve(args: argparse.Namespace) -> None:
    import uvicorn
    settings = _settings(args)
    _check_exposure(settings, args.allow_anonymous)
    try:
        held = datadir.lock(settings.data_dir.resolve())   # kept open (and locked) until we exit
    except datadir.DataDirectoryInUse as exc:
        sys.exit(f"fhirserver: {exc}")
    cluster = None if settings.database_url else bootstrap.embedded_cluster(settings)
    dsn = asyncio.run(bootstrap.prepare(settings, cluster))
    os.environ[DSN_ENV] = dsn
    os.environ["FHIR_DATA_DIR"] = str(settings.data_dir)   # the workers read it (the trusted local key)
    where = "DATABASE_URL" if cluster is None else f"embedded PostgreSQL in {cluster.pgdata}"
    print(f"fhirserver: FHIR R4 at http://{settings.host}:{settings.port}/{settings.default_tenant} ({where})",
          flush=True)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # `finally` below stops the embedded PostgreSQL cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here; /metrics in any worker adds them all up.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fhirserver-metrics-")
    supervisor = Supervisor(cluster) if cluster is not None else None
    if supervisor is not None:
        supervisor.start()
    try:
        uvicorn.run("fhirserver.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, loop="uvloop", http="httptools",
                    access_log=args.access_log, log_level="info")
    finally:
        if supervisor is not None:
            supervisor.stop()   # stopping it on purpose now
            cluster.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        os.close(held)


async def _admin(settings: Settings, action) -> None:
    dsn = await bootstrap.prepare(settings)
    conn = await asyncpg.connect(dsn)
    try:
        await action(conn)
    finally:
        await conn.close()


def migrate(args: argparse.Namespace) -> None:
    async def run() -> list[str]:
        settings = _settings(args)
        return await bootstrap.make_ready(settings, await bootstrap.database(settings))
    print("applied:", ", ".join(asyncio.run(run())) or "nothing (up to date)")


def reindex(args: argparse.Namespace) -> None:
    settings = _settings(args)

    async def run(conn):
        from fhirserver.db.reindex import reindex_all
        count = await reindex_all(conn, public_base_url=settings.public_base_url)
        print(f"rebuilt the search index of {count} resources")
    asyncio.run(_admin(settings, run))


def load(args: argparse.Namespace) -> None:
    from fhirserver.bulk_run import run_load
    settings = _settings(args)
    dsn = asyncio.run(bootstrap.prepare(settings))
    stats = run_load(dsn, args.paths, args.tenant, Path(args.rejects), args.workers, Path(args.state),
                     args.chunk_kib << 10)
    print(f"loaded {stats.loaded}, already present {stats.present}, rejected {stats.rejected}"
          + (f" (see {args.rejects})" if stats.rejected else ""))


def tenant_create(args: argparse.Namespace) -> None:
    async def run(conn):
        from fhirserver.tenants import create_tenant
        t = await create_tenant(conn, args.slug, args.name)
        print(f"tenant {t.slug} (org_id {t.org_id}): base /{t.slug}")
    asyncio.run(_admin(_settings(args), run))


def _month(text: str) -> int:
    from datetime import datetime, timezone

    from fhirserver.ids import month_index
    try:
        return month_index(datetime.strptime(text, "%Y-%m").replace(tzinfo=timezone.utc))
    except ValueError:
        raise ValueError(f"not a month (YYYY-MM): {text!r}") from None


def partitions(args: argparse.Namespace) -> None:
    """Months ahead for every tenant; with --from/--to, those months too, whatever the clinical
    window (rows of them waiting in a tenant's overflow partition move in); then the rows that
    still wait in overflow partitions, per tenant."""
    span = (_month(args.first), _month(args.last or args.first)) if args.first else None
    if args.last and not args.first:
        raise ValueError("--to needs --from")
    if span and span[1] < span[0]:
        raise ValueError("--to is before --from")

    async def run(conn):
        from fhirserver.db.partitions import create_months, create_months_ahead, overflow_rows
        tenants = await conn.fetch("SELECT org_id, slug FROM tenants ORDER BY org_id")
        for org_id, _ in tenants:
            await create_months_ahead(conn, org_id, args.months_ahead)
            if span:
                await create_months(conn, org_id, *span)
        print(f"month partitions exist up to {args.months_ahead} months ahead for every tenant")
        if span:
            print(f"and from {args.first} to {args.last or args.first}")
        for org_id, slug in tenants:
            waiting = await overflow_rows(conn, org_id)
            if waiting:
                print(f"tenant {slug}: rows outside any month partition (overflow): "
                      + ", ".join(f"{t} {n}" for t, n in waiting.items()))
    asyncio.run(_admin(_settings(args), run))


def token(args: argparse.Namespace) -> None:
    from fhirserver.auth.mint import mint, seconds
    settings = _settings(args)
    if settings.auth_issuer:
        raise ValueError("FHIR_AUTH_ISSUER is set: this server trusts that issuer, not `fhirserver token`")
    print(mint(settings.data_dir, _tenant_base(settings, args.tenant), args.scope, patient=args.patient,
               fhir_user=args.fhir_user, ttl_s=seconds(args.ttl), subject=args.subject))


def conformance(suite_args: list[str]) -> None:
    """The black-box suite in its own process, exactly as it runs against any other server: the
    server's code never imports it (tools sit above the server), and it sees only HTTP."""
    raise SystemExit(subprocess.run([sys.executable, "-m", "conformance", *suite_args]).returncode)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["conformance"]:   # every argument after it is the suite's, --help included
        conformance(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="fhirserver", description="FHIR R4 server on PostgreSQL")
    parser.add_argument("--data-dir", help="embedded PostgreSQL lives in DATA_DIR/pg (default ./.fhirserver)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the FHIR API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help="default ./.fhirserver")
    p.add_argument("--workers", type=int, help="worker processes (default FHIR_WORKERS or 1)")
    p.add_argument("--access-log", action="store_true")
    p.add_argument("--allow-anonymous", action="store_true",
                   help="start on a non-loopback address with no FHIR_AUTH_ISSUER (anonymous access stays "
                        "limited to loopback callers)")
    p.set_defaults(run=serve)
    tk = sub.add_parser("token", help="print an access token signed by the embedded default's key")
    tk.add_argument("--tenant", default="default", help="the organisation (tenant slug) the token is for")
    tk.add_argument("--scope", default="user/*.cruds", help="SMART scopes, space-separated")
    tk.add_argument("--patient", help="the patient launch context (for patient/ scopes)")
    tk.add_argument("--fhir-user", help="the user, e.g. Practitioner/123")
    tk.add_argument("--subject", default="local-user", help="the token's sub")
    tk.add_argument("--ttl", default="1h", help="lifetime: 3600, 15m, 1h, 2d")
    tk.add_argument("--host")
    tk.add_argument("--port", type=int)
    tk.set_defaults(run=token)
    sub.add_parser("migrate", help="apply pending schema migrations (and rebuild search indexes if their "
                                    "definition changed)").set_defaults(run=migrate)
    sub.add_parser("reindex", help="rebuild the search index of every resource").set_defaults(run=reindex)
    t = sub.add_parser("tenant", help="manage tenants (organisations)")
    tsub = t.add_subparsers(dest="tenant_command", required=True)
    c = tsub.add_parser("create", help="create a tenant and its partitions")
    c.add_argument("slug")
    c.add_argument("--name")
    c.set_defaults(run=tenant_create)
    ld = sub.add_parser("load", help="bulk-load ndjson and Bundle files (a directory, files, or - for stdin)")
    ld.add_argument("paths", nargs="+")
    ld.add_argument("--tenant", help="tenant slug (default: each subdirectory of a directory names its tenant, "
                                     "else 'default')")
    ld.add_argument("--rejects", default="rejects.ndjson", help="rejected lines with their OperationOutcome")
    ld.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ld.add_argument("--state", default=".fhirserver/load-state", help="checkpoints for resuming")
    ld.add_argument("--chunk-kib", type=int, default=16384,
                    help="cut ndjson files into chunks of about this size, loaded in parallel (keep it "
                         "the same when resuming)")
    ld.set_defaults(run=load)
    part = sub.add_parser("partitions", help="create month partitions ahead of time (run daily)")
    part.add_argument("--months-ahead", type=int, default=3)
    part.add_argument("--from", dest="first", metavar="YYYY-MM",
                      help="also create the months from this one (outside the clinical window too)")
    part.add_argument("--to", dest="last", metavar="YYYY-MM", help="... to this one (default: --from)")
    part.set_defaults(run=partitions)
    sub.add_parser("conformance", add_help=False,
                   help="run the black-box conformance suite: fhirserver conformance BASE_URL [--token T] "
                        "[--only GROUP,...] [--report DIR] [--seed N] [--keep] (same as python -m conformance)"
                   ).set_defaults(run=lambda _: parser.error("`conformance` takes no fhirserver options: "
                                                              "fhirserver conformance BASE_URL ..."))
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ValueError as exc:   # bad input to an admin command: a message, not a traceback
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
