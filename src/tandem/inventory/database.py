"""Opening the inventory database: an SQLite file by default, PostgreSQL by URL.

The URL comes from `--db`, else the environment (`TANDEM_DB`), else the SQLite file
`/var/lib/tandem/inventory.db` (nothing to start). SQLite connections get foreign keys
and WAL on every connection, and transactions that begin when we say so (`BEGIN
IMMEDIATE` for writes, so that two writers queue instead of failing halfway).
PostgreSQL goes through psycopg 3: `postgresql+psycopg://USER@HOST/DB` or, for a unix
socket, `postgresql+psycopg:///DB?host=/run/postgresql`.

Every command works in one transaction (`Database.transaction`): all of it is
committed or none. The schema must be at this tandem's revision (`HEAD`), else the
command stops with "run tandem db init"; only `init` creates or upgrades it, through
the Alembic migrations shipped in tandem.inventory.migrations. Messages name the
database without its password.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from tandem.inventory.errors import InventoryInvalid, InventoryOutdated, InventoryUnavailable

DEFAULT_URL = "sqlite:////var/lib/tandem/inventory.db"
ENV_VAR = "TANDEM_DB"
HEAD = "0001"  # the newest migration (tests check it against the migrations)
MIGRATIONS = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT_S = 5
VERSION_TABLE = "alembic_version"  # where Alembic keeps the revision


def database_url(given: str | None = None) -> str:
    """The URL to use: the one given, else $TANDEM_DB, else the default SQLite file."""
    return given or os.environ.get(ENV_VAR) or DEFAULT_URL


class Database:
    """One inventory database; nothing is connected until a transaction starts."""

    def __init__(self, url: str | None = None) -> None:
        text = database_url(url)
        try:
            self.url: URL = make_url(text)
        except exc.ArgumentError:
            raise InventoryInvalid(f"not a database URL: {_hide(text)!r} (expected "
                                   f"sqlite:///PATH or postgresql+psycopg://...)") from None
        self.name = self.url.render_as_string(hide_password=True)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        try:
            self.engine: Engine = create_engine(self.url, **_engine_options(self.sqlite))
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise InventoryInvalid(f"{self.name}: cannot use this database: {error}") \
                from None
        if self.sqlite:
            _sqlite_hooks(self.engine)
        self._writer = self.engine.execution_options(tandem_write=True)

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for a server or an in-memory database)."""
        database = self.url.database
        if not self.sqlite or not database or database == ":memory:":
            return None
        return Path(database)

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    @contextlib.contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed at the end (rolled back on any
        error); InventoryOutdated unless the schema is at HEAD."""
        self._check_file()
        with self.reachable(), Session(self._writer if write else self.engine,
                                       expire_on_commit=False) as session:
            self._check_revision(session)
            try:
                yield session
                session.commit()
            except exc.IntegrityError as error:
                session.rollback()
                raise InventoryInvalid(f"{self.name}: refused by the database: "
                                       f"{_first_line(error.orig)}") from None
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def reachable(self) -> Iterator[None]:
        """Connection failures as one line naming the database."""
        try:
            yield
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise InventoryUnavailable(f"inventory database {self.name} is unavailable: "
                                       f"{_first_line(error.orig)}") from None

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no tables yet)."""
        self._check_file()
        return self._revision()

    def _revision(self) -> str | None:
        with self.reachable(), self.engine.connect() as connection:
            return current_revision(connection)

    def init(self) -> tuple[str | None, str]:
        """Create the tables, or bring them to HEAD: (revision before, revision now)."""
        from alembic import command
        from alembic.config import Config

        path = self.path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        before = self._revision()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.reachable(), self._writer.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return before, HEAD

    def _check_file(self) -> None:
        path = self.path
        if path is not None and not path.exists():
            raise InventoryOutdated(f"no inventory database at {path}: run `tandem db "
                                    f"init` (or give --db URL)")

    def _check_revision(self, session: Session) -> None:
        found = current_revision(session.connection())
        if found == HEAD:
            return
        if found is None:
            raise InventoryOutdated(f"{self.name} has no inventory tables: run "
                                    f"`tandem db init`")
        raise InventoryOutdated(f"{self.name} is at schema revision {found}, this tandem "
                                f"needs {HEAD}: run `tandem db init` to upgrade it")


def current_revision(connection: Connection) -> str | None:
    """The schema revision Alembic recorded (None: no tables yet), read directly: every
    command checks it, and importing Alembic for that costs ~0.15 s of start-up."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return str(rows[0][0]) if rows else None


def _engine_options(sqlite: bool) -> dict[str, Any]:
    if sqlite:
        return {"connect_args": {"timeout": 30}}
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}


def _sqlite_hooks(engine: Engine) -> None:
    """Foreign keys and WAL on every connection; our own BEGIN (the sqlite3 module's
    implicit transactions would leave reads outside them)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        write = connection.get_execution_options().get("tandem_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _hide(text: str) -> str:
    """A URL as typed, without what could be a password (user:SECRET@host)."""
    head, at, tail = text.rpartition("@")
    if not at or "://" not in head:
        return text
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
