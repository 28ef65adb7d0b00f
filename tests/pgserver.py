"""A PostgreSQL server of the test session's own: Debian's PostgreSQL binaries (./dev
installs them) run as the `postgres` user (when we are root) on a data directory in a
fresh temporary directory, listening only on a unix socket there (no TCP), stopped and
removed at the end. Anything that keeps it from starting fails the tests that need it,
loudly: the inventory suite must run on a real server, never be skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

PG_ROOT = Path("/usr/lib/postgresql")
USER = "postgres"
START_TIMEOUT_S = 60


def pg_bin() -> Path:
    """The newest installed server's bin directory (15 on Debian 12)."""
    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(f"no PostgreSQL server under {PG_ROOT} (./dev installs the "
                           f"Debian package postgresql)")
    return found[-1].parent


class PostgresServer:
    """`with PostgresServer() as server:` a running server; `server.url(db)`."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        self.base = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.user = USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@/{database}?host={self.base}"

    def _run(self, *argv: str) -> None:
        done = subprocess.run([str(self.bin / argv[0]), *argv[1:]], user=self.user,
                              capture_output=True, text=True, timeout=START_TIMEOUT_S,
                              cwd=self.base)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}"
                               f" {log[-2000:]}")

    def __enter__(self) -> PostgresServer:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")
            options = (f"-c listen_addresses='' -k {self.base} -c fsync=off "
                       f"-c full_page_writes=off -c synchronous_commit=off")
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                      "-w", "-t", str(START_TIMEOUT_S), "start")
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
