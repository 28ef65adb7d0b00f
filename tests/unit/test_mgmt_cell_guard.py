"""The tools that touch the shared disks respect a running cell: hamount start, halinks
repair (when it would write on the shared disks) and hasynchro repair refuse while
HA_NSM runs on another member, unless --force; a directory that is a mount point is
one line from halinks; config-admin names a list entry whose program is missing as
FILE:LINE."""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from mgmtkit import nsm_on, write
from tandem.cli.main import main as tandem_main
from tandem.common.status import CellStatus, ServiceStatus
from tandem.hpc.mgmt import cellguard
from tandem.hpc.mgmt import config_admin as ca
from tandem.hpc.mgmt.cellguard import ENGINE_ENV, NsmPlace, ask_tandemd, place_in
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import CheckFailed, DataError
from tandem.hpc.mgmt.halinks import Halinks
from tandem.hpc.mgmt.hamount import Hamount
from tandem.hpc.mgmt.hasynchro import Hasynchro

ELSEWHERE = "HA_NSM runs on ns13: "
FORCE = r"\(use --force if you are sure\)$"


@pytest.fixture()
def remounts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """hamount's mounting recorded instead of done (it needs root)."""
    done: list[str] = []
    monkeypatch.setattr(Hamount, "_remount",
                        lambda self, entry: done.append(str(entry.value)))
    return done


@pytest.fixture()
def mnttab(ctx: MgmtContext) -> Path:
    return write(ctx.data("mnttab"), "/dev/sdj1  /etcha\n/dev/sdp1  /varha\n")


# -- hamount -----------------------------------------------------------------------------
def test_hamount_start_refuses_when_the_peer_runs_ha_nsm(ctx: MgmtContext, mnttab: Path,
                                                        remounts: list[str]) -> None:
    ctx.nsm_place = nsm_on("ns13")
    with pytest.raises(CheckFailed, match=rf"^{ELSEWHERE}mounting its disks here would "
                                          rf"corrupt them {FORCE}"):
        Hamount(ctx).run("start")
    assert remounts == []


@pytest.mark.parametrize("place", [NsmPlace(), NsmPlace(owner="ns0", here=True)],
                         ids=["nobody", "this node"])
def test_hamount_start_mounts_when_nobody_else_runs_it(ctx: MgmtContext, mnttab: Path,
                                                       remounts: list[str],
                                                       place: NsmPlace) -> None:
    ctx.nsm_place = lambda _ctx: place
    assert Hamount(ctx).run("start") == "OK (2 file systems)"
    assert remounts == ["/dev/sdj1 on /etcha", "/dev/sdp1 on /varha"]


def test_force_does_not_even_ask(ctx: MgmtContext, mnttab: Path,
                                 remounts: list[str]) -> None:
    def never(_ctx: MgmtContext) -> NsmPlace:
        raise AssertionError("asked where HA_NSM runs despite --force")

    forced = dataclasses.replace(ctx, force=True, nsm_place=never)
    assert Hamount(forced).run("start") == "OK (2 file systems)"
    assert len(remounts) == 2


def test_hamount_start_refuses_when_the_daemon_cannot_tell(ctx: MgmtContext, mnttab: Path,
                                                          remounts: list[str]) -> None:
    ctx.nsm_place = nsm_on(None, unknown="tandemd is not running on this node")
    with pytest.raises(CheckFailed, match=r"^cannot tell where HA_NSM runs \(tandemd is not "
                                          r"running on this node\); if the peer runs it, "
                                          rf"mounting its disks here would corrupt them {FORCE}"):
        Hamount(ctx).run("start")
    assert remounts == []


def test_hamount_stop_and_status_never_ask(ctx: MgmtContext, mnttab: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ctx.nsm_place = nsm_on("ns13")
    asked = Hamount(ctx)
    monkeypatch.setattr("tandem.hpc.mgmt.hamount.call",
                        lambda agent, action: SimpleNamespace(ok=True, message=""))
    assert asked.run("stop") == "OK (2 file systems)"
    assert asked.run("status") == "OK"


def test_hamount_cli_refusal_is_one_line(ctx: MgmtContext, mnttab: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Through the command line and the default question, the daemon's answer faked."""
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    monkeypatch.setattr("tandem.cli.client.cell_status",
                        lambda timeout: cell_status(service("node2"), local="node1"))
    status = tandem_main(["ha", "hamount", "start", "--root", str(ctx.root), "--sysroot",
                          str(ctx.sysroot)])
    assert status == 1
    assert capsys.readouterr().err == (
        "hamount: error: HA_NSM runs on node2: mounting its disks here would corrupt them "
        "(use --force if you are sure)\n")


# -- where HA_NSM runs -------------------------------------------------------------------
def service(owner: str | None, local: str = "stopped") -> ServiceStatus:
    return ServiceStatus(name="HA_NSM", state="started" if owner else "stopped", owner=owner,
                         last_owner=None, note="", enabled=True, frozen=False,
                         placement=owner, since=None, local=local)


def cell_status(*services: ServiceStatus, local: str = "ns0") -> CellStatus:
    fake = SimpleNamespace(local=local, service=lambda name: next(
        (s for s in services if s.name == name), None))
    return cast(CellStatus, fake)


def test_place_in_a_status() -> None:
    assert place_in(cell_status(service("ns13"))).elsewhere == "ns13"
    assert place_in(cell_status(service("ns0"))).elsewhere is None
    assert place_in(cell_status(service(None))).elsewhere is None
    assert place_in(cell_status()) == NsmPlace()  # no HA_NSM in this cell
    # The engine starts it here while the cell-wide view still names the peer.
    assert place_in(cell_status(service("ns13", local="starting"))).here


def test_asking_a_daemon_that_does_not_answer(ctx: MgmtContext, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "no.sock"))
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert ask_tandemd(ctx) == NsmPlace()  # no cell configured: nobody runs HA_NSM
    write(ctx.cluster_config, "[[services]]\nname = 'HA_NSM'\n")  # not a valid cell
    place = ask_tandemd(ctx)
    assert place.unknown.startswith("tandemd is not running on this node") and \
        place.elsewhere is None
    monkeypatch.setenv(ENGINE_ENV, "1")  # run by the haservices agent: the engine decided
    assert ask_tandemd(ctx).here


def test_the_haservices_agent_tells_its_commands(tmp_path: Path) -> None:
    from tandem.resources.registry import get_agent

    agent: Any = get_agent("haservices").create("nsm", {"root": str(tmp_path)})
    assert agent.environment()[cellguard.ENGINE_ENV] == "1"


# -- halinks -----------------------------------------------------------------------------
@pytest.fixture()
def links(ctx: MgmtContext) -> Path:
    write(ctx.host("/var/lib/pgsql/data/PG_VERSION"), "15\n")
    return write(ctx.data("links"), "/var/lib/pgsql\n")


@pytest.fixture()
def unmounted(ctx: MgmtContext) -> MgmtContext:
    """A context where a shared directory counts as there when it exists (no mounts)."""
    return dataclasses.replace(ctx, shared_must_be_mounted=False)


def test_halinks_repair_refuses_to_seed_the_peers_disks(unmounted: MgmtContext,
                                                        links: Path) -> None:
    unmounted.host("/varha").mkdir()
    unmounted.nsm_place = nsm_on("ns13")
    with pytest.raises(CheckFailed, match=rf"^{ELSEWHERE}writing /varha/lib/pgsql on its "
                                          rf"shared disks from here would corrupt them {FORCE}"):
        Halinks(unmounted).run("repair")
    assert not unmounted.host("/var/lib/pgsql").is_symlink()
    forced = dataclasses.replace(unmounted, force=True)
    assert Halinks(forced).run("repair") == "OK (1 directory linked)"
    assert forced.host("/varha/lib/pgsql/data/PG_VERSION").read_text() == "15\n"


def test_halinks_repair_links_the_passive_node(unmounted: MgmtContext, links: Path,
                                               lines: list[str]) -> None:
    """Without the shared disk here, making the links writes nothing shared: allowed."""
    unmounted.nsm_place = nsm_on("ns13")
    assert Halinks(unmounted).run("repair") == "OK (1 directory linked)"
    assert any("not seeded" in line for line in lines)


def test_halinks_goes_on_with_a_note_when_the_daemon_cannot_tell(
        unmounted: MgmtContext, links: Path, lines: list[str]) -> None:
    unmounted.host("/varha").mkdir()
    unmounted.nsm_place = nsm_on(None, unknown="tandemd did not answer")
    assert Halinks(unmounted).run("repair") == "OK (1 directory linked)"
    assert lines[0] == "cannot tell where HA_NSM runs (tandemd did not answer): going on"


def test_halinks_on_a_mount_point_is_one_line(ctx: MgmtContext, links: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pgsql = str(ctx.host("/var/lib/pgsql"))
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount",
                        lambda path: str(path) == pgsql or real_ismount(path))
    status = tandem_main(["ha", "halinks", "repair", "--root", str(ctx.root), "--sysroot",
                          str(ctx.sysroot)])
    assert status == 1
    assert capsys.readouterr().err == (
        f"halinks: error: {links}:1: /var/lib/pgsql is a mount point: halinks moves "
        f"directories, not file systems (unmount it, or manage it with hamount and drop "
        f"it from the links file)\n")
    assert not ctx.host("/var/lib/pgsql").is_symlink()


def test_a_directory_that_cannot_be_moved_is_one_line(unmounted: MgmtContext, links: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What a mount point gave before it was recognised: EBUSY from rename."""
    def busy(source: Any, target: Any) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(os, "rename", busy)
    with pytest.raises(CheckFailed, match=rf"^{links}:1: cannot move /var/lib/pgsql aside: "
                                          r"Device or resource busy$"):
        Halinks(unmounted).run("repair")


# -- hasynchro ---------------------------------------------------------------------------
def test_hasynchro_repair_refuses_on_the_passive_node(ctx: MgmtContext) -> None:
    write(ctx.data("synchro"), "/etc/hosts\n")
    ctx.nsm_place = nsm_on("ns13")
    with pytest.raises(CheckFailed, match=rf"^{ELSEWHERE}copying this node's files over the "
                                          rf"active node's would undo its changes {FORCE}"):
        Hasynchro(ctx).run("repair")


# -- config-admin: the programs of the lists -----------------------------------------------
NODES = """
[[nodes]]
name = "{name}"
networks.admin = {{ interface = "eth0", address = "198.51.100.{n}/24" }}
bmc = {{ address = "198.51.100.1{n}", user = "admin", password_file = "/etc/tandem/bmc.pw" }}
"""


@pytest.fixture()
def ha_root(ctx: MgmtContext) -> MgmtContext:
    """/etc/HA whose lists name the toolkit, a script of its own and an init script."""
    write(ctx.data(ca.INVENTORY_FILE), NODES.format(name="ns0", n=10) +
          NODES.format(name="ns13", n=13))
    write(ctx.data("bin/postgresql"), "#!/bin/sh\n", 0o755)
    write(ctx.host("/etc/init.d/httpd"), "#!/bin/sh\n", 0o755)
    write(ctx.data("start"), "/etc/HA/bin/hamount\n/etc/HA/bin/postgresql\n"
                             "/etc/init.d/httpd\n/etc/HA/bin/hasyslog\n/etc/HA/bin/haupdatedb\n")
    write(ctx.data("stop"), "/etc/HA/bin/hasyslog\n/etc/init.d/httpd\n/etc/HA/bin/hamount\n")
    write(ctx.data("status"), "")
    return ctx


def generated(ctx: MgmtContext, **choices: Any) -> ca.Generated:
    inventory = ca.load_inventory(ctx.data(ca.INVENTORY_FILE))
    return ca.generate(inventory, ("ns0", "ns13"), ca.read_ha_files(ctx),
                       ca.Choices(**choices))


def test_lists_of_known_programs_generate(ha_root: MgmtContext) -> None:
    made = generated(ha_root)
    assert made.config.services[0].name == "HA_NSM"
    assert not [w for w in made.warnings if "does not exist" in w or "no such program" in w]


@pytest.mark.parametrize(("line", "problem"), [
    ("/etc/HA/bin/hasyslogng", "/etc/HA/bin/hasyslogng: no such program here: list "
                               "/etc/HA/bin/hasyslog instead"),
    ("/etc/HA/bin/hacisco", "/etc/HA/bin/hacisco: no such program here: flushed the ARP"),
    ("/etc/HA/bin/dbmConfig", "/etc/HA/bin/dbmConfig: no such program here: Bull's "
                              "ClusterDB tool: `tandem db generate`"),
    ("/etc/init.d/nfs", "/etc/init.d/nfs does not exist (looked at {sysroot}/etc/init.d/nfs)"),
    ("/etc/HA/bin/hamysql", "/etc/HA/bin/hamysql does not exist (looked at "
                            "{root}/bin/hamysql)"),
])
def test_a_missing_program_is_file_and_line(ha_root: MgmtContext, line: str,
                                            problem: str) -> None:
    start = write(ha_root.data("start"), f"/etc/HA/bin/hamount\n\n{line}\n")
    with pytest.raises(DataError) as caught:
        generated(ha_root)
    expected = problem.format(sysroot=ha_root.sysroot, root=ha_root.root)
    assert str(caught.value).startswith(f"{start}:3: {expected}")


def test_every_missing_program_is_counted(ha_root: MgmtContext) -> None:
    write(ha_root.data("bin/postgresql"), "#!/bin/sh\n", 0o644)
    stop = write(ha_root.data("stop"), "/etc/init.d/gone\n/etc/HA/bin/hapostfix\n")
    with pytest.raises(DataError, match=rf"^{ha_root.data('start')}:2: /etc/HA/bin/postgresql "
                                        rf"is not executable \(chmod \+x .*\) \(and 2 more\)$"):
        generated(ha_root)
    write(ha_root.data("bin/postgresql"), "#!/bin/sh\n", 0o755)
    with pytest.raises(DataError, match=rf"^{stop}:1: /etc/init.d/gone does not exist"):
        generated(ha_root)


def test_programs_outside_the_read_tree_are_warnings_with_a_node_root(
        ha_root: MgmtContext) -> None:
    """Files read from a copy (--node-root): /etc/HA entries are checked in the copy, other
    paths can only be looked for on this machine."""
    write(ha_root.data("start"), "/srv/mgmt/etc/HA/bin/postgresql\n/etc/init.d/slapd\n")
    made = generated(ha_root, node_root="/srv/mgmt/etc/HA")
    assert f"{ha_root.data('start')}:2: /etc/init.d/slapd does not exist (looked at " \
           f"{ha_root.sysroot}/etc/init.d/slapd) here: check it on the nodes" in made.warnings


def test_config_admin_cli_names_the_line(ha_root: MgmtContext,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    start = write(ha_root.data("start"), "/etc/HA/bin/hamount\n/etc/HA/bin/hasyslogng\n")
    status = tandem_main(["ha", "config-admin", "ns0", "ns13", "--root", str(ha_root.root),
                          "-q"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"config-admin: error: {start}:2: /etc/HA/bin/hasyslogng: no such "
                          f"program here") and err.count("\n") == 1
