"""Real Redis and PgBouncer processes for the tests that need them.

Both come from Debian packages, installed on demand when we are root (the test
container) so a plain `pytest` run needs no setup step. Each test server is our
own subprocess on a port of our choosing, never the packaged system service.

PgBouncer, like PostgreSQL, refuses to run as root, so as root it runs as the
same unprivileged system user as the embedded cluster (see fhirserver.db.embedded).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fhirserver.db.embedded import _chown_to_postgres, _open_path_for_postgres, as_postgres_user

_START_TIMEOUT = 10.0
# apt-get output meaning the package lists are missing or stale, so `apt-get update` can help.
_STALE_LISTS = ("Unable to locate package", "has no installation candidate", "Failed to fetch")


def _which(binary: str) -> str | None:
    # Debian puts daemons in /usr/sbin, which a non-login PATH often lacks.
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")


def ensure_debian_package(binary: str, package: str) -> str:
    """Path of `binary`, installing Debian's `package` first if it is missing and we are root."""
    found = _which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(f"{binary} is not installed and we are not root: run `apt-get install {package}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Parallel test workers may install at once: wait for the dpkg lock instead of failing.
    install = ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", package]
    result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0 and any(marker in result.stdout + result.stderr for marker in _STALE_LISTS):
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"apt-get install {package} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    _stop_system_service(package)
    found = _which(binary)
    if not found:
        raise RuntimeError(f"{package} is installed but {binary} is not on PATH or in /usr/sbin")
    return found


def _stop_system_service(package: str) -> None:
    """Stop the packaged service in case the postinst started it on its default port.

    Containers usually forbid that (policy-rc.d exits 101, no systemd), but a
    running system Redis or PgBouncer would hold 6379/6432 and use memory for nothing.
    """
    if Path("/run/systemd/system").exists():
        subprocess.run(["systemctl", "stop", package], capture_output=True, timeout=60)
    elif (Path("/etc/init.d") / package).exists():
        # The init scripts only act when their pidfile names a live process of that binary.
        subprocess.run([f"/etc/init.d/{package}", "stop"], capture_output=True, timeout=60)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _redis_ping(port: int) -> bool:
    # A raw inline command: no client library needed just to know the server is up.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _check_port_free(port: int, name: str) -> None:
    # Otherwise whatever already listens there would answer the readiness check for us.
    if _port_open(port):
        raise RuntimeError(f"cannot start {name}: 127.0.0.1:{port} is already in use")


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, name: str, log: Path) -> None:
    """Poll `ready` until it holds; fail early, with the log, if the process dies."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if ready() and process.poll() is None:
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"{name} did not start (exit code {process.returncode}):\n{tail}")


def _terminate(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class RedisServer:
    """A throwaway Redis on 127.0.0.1:`port`: no persistence, files in `workdir`."""

    workdir: Path
    port: int
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    def start(self) -> str:
        """Start Redis (again, after stop or kill) and wait until it answers PING; return its URL."""
        binary = ensure_debian_package("redis-server", "redis-server")
        _check_port_free(self.port, "Redis")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # No --logfile: Redis then logs to stdout, which also catches errors from before it reads its settings.
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [binary, "--daemonize", "no", "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        _wait_until(lambda: _redis_ping(self.port), self._process, "Redis", self.log)
        return self.url

    def stop(self) -> None:
        _terminate(self._process)
        self._process = None

    def kill(self) -> None:
        """Die without warning, as a crashed Redis would: for failure tests."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


@dataclass
class PgBouncer:
    """PgBouncer on 127.0.0.1:`port` in front of a PostgreSQL on a Unix socket, any database."""

    workdir: Path
    port: int
    server_socket_dir: Path
    server_port: int
    pool_mode: str = "transaction"
    pool_size: int = 20
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def log(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def dsn(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> Path:
        userlist = self.workdir / "userlist.txt"
        # trust skips passwords, but PgBouncer still only admits users listed here.
        userlist.write_text('"postgres" ""\n')
        ini = self.workdir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            # The wildcard routes every database name to the same cluster, under the client's user.
            f"* = host={self.server_socket_dir} port={self.server_port}\n"
            "\n[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {userlist}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            # PgBouncer 1.18 refuses connections that send startup parameters it does not track,
            # e.g. server_settings={"jit": "off"} (extra_float_digits: psql/JDBC); application_name
            # it tracks itself. Ignored ones are dropped, not applied.
            "ignore_startup_parameters = extra_float_digits,jit\n"
            # Transaction pooling hands server connections over per transaction: no reset needed.
            "server_reset_query =\n"
            f"pidfile = {self.workdir / 'pgbouncer.pid'}\n"
        )
        for path in (userlist, ini):
            _chown_to_postgres(path)
        return ini

    def start(self) -> str:
        """Start PgBouncer and wait until it accepts connections; return the DSN of `postgres`."""
        binary = ensure_debian_package("pgbouncer", "pgbouncer")
        _check_port_free(self.port, "PgBouncer")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # It refuses root: run as the cluster's user, who must reach and write the workdir.
            as_postgres_user()  # creates the system user if need be
            _open_path_for_postgres(self.workdir.parent)
            _chown_to_postgres(self.workdir)
        (self.workdir / "pgbouncer.pid").unlink(missing_ok=True)  # left by a killed run
        ini = self._write_config()
        # No `logfile`: without -d PgBouncer logs to stderr anyway, config errors included
        # (-q would silence those, and a logfile would only duplicate the rest).
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [binary, str(ini)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **as_postgres_user(),
            )
        _wait_until(lambda: _port_open(self.port), self._process, "PgBouncer", self.log)
        return self.dsn("postgres")

    def stop(self) -> None:
        _terminate(self._process)
        self._process = None
