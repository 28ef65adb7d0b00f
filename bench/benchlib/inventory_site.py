"""The cells of a benchmark site in an inventory database, as an administrator fills
one: `tandem db init`, then `tandem db import --secrets-dir` of the cell files (one
transaction, every cell generated), then `tandem db generate --json` for each cell's
hash, which the recorded node answers must carry to read "in sync".

SQLite is a file of the benchmark's directory; PostgreSQL is a server of the
benchmark's own (tests/pgserver.py: Debian's binaries, a unix socket in a temporary
directory, fsync off, removed at the end), so no site server is touched.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchlib.errors import BenchError

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("dir", "sqlite", "postgresql")
SETUP_TIMEOUT_S = 600


class Backend:
    """Where the benchmark keeps its inventories: nowhere (the directory source), SQLite
    files, or databases of a PostgreSQL server started for it (stopped by `stack`)."""

    def __init__(self, source: str, work: Path, stack: contextlib.ExitStack) -> None:
        self.source = source
        self.work = work
        self.server: Any = None
        if source == "postgresql":
            sys.path.append(str(REPO / "tests"))
            from pgserver import PostgresServer

            try:
                self.server = stack.enter_context(PostgresServer())
            except RuntimeError as exc:
                raise BenchError(f"PostgreSQL for the benchmark: {exc}") from None

    def url(self, name: str) -> str | None:
        """A fresh, empty database called `name` (None for the directory source)."""
        if self.source == "dir":
            return None
        if self.source == "sqlite":
            return f"sqlite:///{self.work}/{name}.db"
        import psycopg

        with psycopg.connect(host=str(self.server.base), user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return str(self.server.url(name))


def fill(url: str, cells_dir: Path, work: Path, tandem: str) -> dict[str, str]:
    """Import every cell file of `cells_dir`; {cell: sha256 of its generated text}."""
    files = sorted(str(p) for p in cells_dir.glob("*.toml") if p.name != "site.toml")
    _tandem(tandem, "db", "init", "--db", url)
    _tandem(tandem, "db", "import", "--db", url, "--secrets-dir", str(work / "secrets"),
            *files)
    generated = json.loads(_tandem(tandem, "db", "generate", "--db", url, "--json"))
    return {row["cell"]: row["config_hash"] for row in generated}


def _tandem(tandem: str, *argv: str) -> str:
    done = subprocess.run([tandem, *argv], capture_output=True, text=True,
                          timeout=SETUP_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchError(f"tandem {' '.join(argv[:2])}: {done.stderr.strip()}")
    return done.stdout
