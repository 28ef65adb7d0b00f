"""Opening the inventory: the migrations build exactly the models' schema (SQLite and
PostgreSQL), SQLite connections have foreign keys and WAL, an older or missing schema
is refused with "run tandem db init", URLs and their passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from inventorykit import db, site
from sqlalchemy import text

from tandem.inventory.database import (
    DEFAULT_URL,
    ENV_VAR,
    HEAD,
    MIGRATIONS,
    Database,
    database_url,
)
from tandem.inventory.errors import InventoryInvalid, InventoryOutdated
from tandem.inventory.models import Base

__all__ = ["db"]


def test_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_the_migrations_build_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert db.init() == (HEAD, HEAD)  # again: nothing to do


def test_sqlite_connections_have_foreign_keys_and_wal(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/inventory.db")
    db.init()
    with db.transaction() as session:
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "inventory.db"
    missing = f"no inventory database at {path}: run `tandem db init`"
    with pytest.raises(InventoryOutdated, match=missing), \
            Database(f"sqlite:///{path}").transaction():
        pass
    assert not path.exists()
    Database(f"sqlite:///{path}").init()  # init makes the directory and the file
    assert path.exists()


def test_an_older_revision_is_refused(db: Database) -> None:
    site(db)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(InventoryOutdated) as caught, db.transaction():
        pass
    assert str(caught.value).endswith("is at schema revision 0000, this tandem needs 0001: "
                                      "run `tandem db init` to upgrade it")


def test_an_empty_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(InventoryOutdated, match="has no inventory tables: run `tandem db "
                                                "init`"), \
            Database(f"sqlite:///{path}").transaction():
        pass


def test_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert database_url() == DEFAULT_URL
    monkeypatch.setenv(ENV_VAR, "sqlite:////srv/inv.db")
    assert database_url() == "sqlite:////srv/inv.db"
    assert database_url("sqlite:////x.db") == "sqlite:////x.db"
    named = Database("postgresql+psycopg://tandem:s3cret@db.example/inventory")
    assert "s3cret" not in named.name and named.path is None
    with pytest.raises(InventoryInvalid) as caught:
        Database("nonsense://user:s3cret@host")
    assert "s3cret" not in str(caught.value)
