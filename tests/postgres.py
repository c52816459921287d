"""A real PostgreSQL server for tests: Debian's `postgresql` binaries, a throwaway cluster on a loopback port.

As root (CI), the server runs as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL_HINT = "apt-get install postgresql (.ci/run does this)"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class Postgres:
    """`with Postgres() as pg: url = pg.new_database("name")`."""

    def __enter__(self) -> Postgres:
        from tests.browser import free_port

        bindir = _bindir()
        if bindir is None:
            if os.environ.get("TEST_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is not installed: {INSTALL_HINT}")
            pytest.skip(f"PostgreSQL is not installed: {INSTALL_HINT}")
        self.folder = Path(tempfile.mkdtemp(prefix="concierge-pg-"))
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = self.folder / "data", free_port()
        self._run(bindir / "initdb", "-D", str(self.data), "-U", "concierge", "--auth=trust", "-E", "UTF8",
                  "--no-locale")
        self._run(bindir / "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
                  "-c max_connections=200", "start")
        self.bindir = bindir
        return self

    def _run(self, *args: object) -> None:
        done = subprocess.run([*self.run_as, *map(str, args)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def new_database(self, name: str) -> str:
        """A fresh database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=concierge dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://concierge@127.0.0.1:{self.port}/{name}"

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
