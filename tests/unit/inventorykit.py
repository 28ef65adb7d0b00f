"""What the inventory tests share: a fresh database on each backend (an SQLite file, and
a database of its own on the session's PostgreSQL server), a small site to start from,
and a fingerprint of the whole database to prove that a refused change changed nothing.

Test modules import the `db` fixture from here (`from inventorykit import db`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from pgserver import PostgresServer
from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, NodeChange, set_cell, set_nodes
from tandem.inventory.export import export_document, render
from tandem.inventory.writes import change

BACKENDS = ("sqlite", "postgresql")
_numbers = itertools.count(1)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty inventory at the current schema, on each backend in turn."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/inventory.db")
        database.init()
        yield database
        database.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"inventory_{next(_numbers)}"
    with psycopg.connect(host=str(server.base), user="postgres", dbname="postgres",
                         autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    database = Database(server.url(name))
    database.init()
    yield database
    database.dispose()
    with psycopg.connect(host=str(server.base), user="postgres", dbname="postgres",
                         autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name}")


def add_node(db: Database, name: str, n: int, roles: tuple[str, ...] = ("io",),
             bmc: bool = True) -> None:
    """A node with an admin and a backbone address (host part `n`) and a BMC."""
    with change(db) as changes:
        set_nodes(changes.session, [name], NodeChange(
            roles=roles, addresses=(("admin", "eth0", f"198.51.100.{n}/24"),
                                    ("backbone", "eth1", f"203.0.113.{n}/24")),
            bmc_address=f"198.51.100.{100 + n}" if bmc else None,
            bmc_password_file="/etc/tandem/bmc.pw" if bmc else None))


def site(db: Database, pairs: int = 2) -> None:
    """Nodes io1..io{2*pairs} (role io) and lustre cells c1..c{pairs} of two each,
    heartbeats on admin then backbone."""
    for i in range(1, 2 * pairs + 1):
        add_node(db, f"io{i}", 10 + i)
    for c in range(1, pairs + 1):
        with change(db) as changes:
            set_cell(changes.session, f"c{c}", CellChange(
                kind="lustre", members=f"io[{2 * c - 1}-{2 * c}]",
                heartbeat=("admin", "backbone")))


def state(db: Database) -> str:
    """Everything the database holds, as text (the export, the generated configs and
    where services ran): equal before and after means nothing changed."""
    with db.transaction() as session:
        text = render(export_document(session), "json")
        configs = [(c.name, c.config_version, c.config_text)
                   for c in session.scalars(select(m.Cell).order_by(m.Cell.name))]
        where = [(loc.service, loc.node, loc.state, loc.seen_at)
                 for loc in session.scalars(select(m.ServiceLocation))]
    return f"{text}\n{configs}\n{where}"


def versions(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        return {c.name: c.config_version for c in session.scalars(select(m.Cell))}
