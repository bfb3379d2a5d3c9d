"""The embedded PostgreSQL after a crash: a postmaster.pid left behind that names a process
which is not our postmaster (a reused pid, a zombie) must not stop the next start."""

from __future__ import annotations

import subprocess

import asyncpg

from fhirserver.db.embedded import EmbeddedPostgres


async def test_a_stale_pid_file_from_a_crash_does_not_stop_the_next_start(tmp_path):
    cluster = EmbeddedPostgres(tmp_path / "pg", port=54351)
    cluster.start()
    pid_file = cluster.pgdata / "postmaster.pid"
    lines = pid_file.read_text().split("\n")
    cluster.stop("immediate")
    impostor = subprocess.Popen(["sleep", "60"])   # the crashed postmaster's pid, now someone else's
    try:
        pid_file.write_text("\n".join([str(impostor.pid), *lines[1:]]))
        assert not cluster.is_running()
        conn = await asyncpg.connect(cluster.start())
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        assert impostor.poll() is None   # left alone
    finally:
        impostor.kill()
        cluster.destroy()
