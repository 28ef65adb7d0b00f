"""The manual's stock-list tools that make sense today: hasyslog (the active node's log on
the shared disk, through an rsyslog drop-in) and haupdatedb (the inventory database
records which management node runs HA_NSM)."""

from __future__ import annotations

import dataclasses
import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from inventorykit import add_node
from sqlalchemy import select

from mgmtkit import FakeRunner, write
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import CheckFailed, DataError
from tandem.hpc.mgmt.hasyslog import DROPIN, RESTART, Hasyslog
from tandem.hpc.mgmt.haupdatedb import Haupdatedb
from tandem.hpc.mgmt.tools import get_tool
from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, set_cell
from tandem.inventory.writes import change


# -- hasyslog ----------------------------------------------------------------------------
@pytest.fixture()
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture()
def syslog(ctx: MgmtContext, runner: FakeRunner) -> MgmtContext:
    """rsyslog and systemd here, /varha/log on the shared disk."""
    write(ctx.data("syslog"), "# where the active node logs\n/varha/log\n")
    ctx.host("/etc/rsyslog.d").mkdir(parents=True)
    ctx.host("/run/systemd/system").mkdir(parents=True)
    ctx.host("/varha/log").mkdir(parents=True)
    return dataclasses.replace(ctx, runner=runner)


def test_hasyslog_start_status_stop(syslog: MgmtContext, runner: FakeRunner) -> None:
    tool = Hasyslog(syslog)
    with pytest.raises(CheckFailed, match=rf"^{DROPIN} is missing: the log stays on this "
                                          r"node"):
        tool.run("status")
    assert tool.run("start") == "OK (logging to /varha/log/messages)"
    dropin = syslog.host(DROPIN).read_text()
    assert "*.* /varha/log/messages\n& stop\n" in dropin
    assert tool.run("status") == "OK"
    assert tool.run("start") == "OK"  # already in place: rsyslog not restarted again
    assert runner.calls == [list(RESTART)]
    assert tool.run("stop") == "OK (logging locally)"
    assert not syslog.host(DROPIN).exists() and runner.calls == [list(RESTART)] * 2
    assert tool.run("stop") == "OK"
    with pytest.raises(CheckFailed):
        tool.run("status")


def test_hasyslog_status_sees_a_drop_in_for_another_directory(syslog: MgmtContext) -> None:
    Hasyslog(syslog).run("start")
    write(syslog.data("syslog"), "/homeha/log\n")
    with pytest.raises(CheckFailed, match=r"does not send the log to /homeha/log/messages"):
        Hasyslog(syslog).run("status")


def test_hasyslog_refuses_without_the_shared_directory(syslog: MgmtContext,
                                                       runner: FakeRunner) -> None:
    syslog.host("/varha/log").rmdir()
    with pytest.raises(CheckFailed, match=r"^/varha/log does not exist: is the shared disk "
                                          r"mounted \(hamount start comes first\)\?$"):
        Hasyslog(syslog).run("start")
    assert not syslog.host(DROPIN).exists() and runner.calls == []


def test_hasyslog_needs_rsyslog_and_one_directory(syslog: MgmtContext) -> None:
    syslog.host("/etc/rsyslog.d").rmdir()
    with pytest.raises(CheckFailed, match=r"^no /etc/rsyslog.d: hasyslog needs rsyslog"):
        Hasyslog(syslog).run("start")
    path = write(syslog.data("syslog"), "/varha/log\n/homeha/log\n")
    with pytest.raises(DataError, match=rf"^{path}: expected one directory .* found 2$"):
        Hasyslog(syslog).run("start")


def test_hasyslog_restart_failure_and_no_systemd(syslog: MgmtContext,
                                                 lines: list[str]) -> None:
    failing = dataclasses.replace(syslog, runner=FakeRunner(5, "Unit rsyslog.service failed"))
    with pytest.raises(CheckFailed, match=r"failed \(exit 5\): Unit rsyslog.service failed$"):
        Hasyslog(failing).run("start")
    syslog.host(DROPIN).unlink()
    syslog.host("/run/systemd/system").rmdir()
    assert Hasyslog(syslog).run("start") == "OK (logging to /varha/log/messages)"
    assert lines[0].startswith("systemd does not run here: restart rsyslog")


# -- haupdatedb --------------------------------------------------------------------------
@pytest.fixture()
def inventory(tmp_path: Path) -> Iterator[str]:
    """An SQLite inventory with the management cell of ns0 and ns13 (and ns5 outside)."""
    url = f"sqlite:///{tmp_path}/inventory.db"
    db = Database(url)
    db.init()
    for name, n in (("ns0", 10), ("ns13", 13), ("ns5", 5)):
        add_node(db, name, n)
    with change(db) as changes:
        set_cell(changes.session, "mgmt", CellChange(kind="management", members="ns[0,13]"))
    db.dispose()
    yield url


def on(ctx: MgmtContext, node: str, url: str) -> Haupdatedb:
    return Haupdatedb(dataclasses.replace(ctx, node=f"{node}.cluster", inventory_url=url))


def recorded(url: str) -> tuple[str | None, str]:
    db = Database(url)
    with db.transaction() as session:
        row = session.scalars(select(m.ServiceLocation)).one()
        found = (row.node, row.state)
    db.dispose()
    return found


def test_haupdatedb_follows_the_active_node(ctx: MgmtContext, inventory: str) -> None:
    with pytest.raises(CheckFailed, match=r"^the inventory says HA_NSM of cell mgmt runs on "
                                          r"no node, not on ns0"):
        on(ctx, "ns0", inventory).run("status")
    assert on(ctx, "ns0", inventory).run("start") == "OK (ns0 recorded as active)"
    assert recorded(inventory) == ("ns0", "started")
    assert on(ctx, "ns0", inventory).run("status") == "OK"
    with pytest.raises(CheckFailed, match="runs on ns0, not on ns13"):
        on(ctx, "ns13", inventory).run("status")
    # A stop on the node that is not named leaves the record alone.
    assert "left as it is" in on(ctx, "ns13", inventory).run("stop")
    assert recorded(inventory) == ("ns0", "started")
    assert on(ctx, "ns0", inventory).run("stop") == "OK"
    assert recorded(inventory) == (None, "stopped")
    on(ctx, "ns13", inventory).run("start")
    assert recorded(inventory) == ("ns13", "started")


def test_haupdatedb_failures_are_one_line(ctx: MgmtContext, inventory: str,
                                          tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match=r"^this node \(ns5\) is not a member of the "
                                          r"management cell mgmt \(ns0, ns13\)$"):
        on(ctx, "ns5", inventory).run("start")
    empty = f"sqlite:///{tmp_path}/empty.db"
    Database(empty).init()
    with pytest.raises(CheckFailed, match=r"has no management cell$"):
        on(ctx, "ns0", empty).run("start")
    with pytest.raises(CheckFailed) as caught:
        on(ctx, "ns0", f"sqlite:///{tmp_path}/missing/inventory.db").run("start")
    assert "\n" not in str(caught.value)


def test_console_scripts_resolve() -> None:
    scripts = tomllib.loads(Path("pyproject.toml").read_text())["project"]["scripts"]
    for name in ("hasyslog", "haupdatedb"):
        module, _, attr = scripts[name].partition(":")
        target: object = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        assert callable(target) and get_tool(name).main == target
