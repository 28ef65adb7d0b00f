"""The toolkit commands that talk to the other management node: hasynchro, harpms,
and how the peer is found (haadminnodes). The "peer" here is a second temp tree reached
through a real transport that runs real commands (sh, stat, sha256sum, dpkg-query)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from mgmtkit import write
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import CheckFailed, DataError, UsageProblem
from tandem.hpc.mgmt.haadminnodes import Haadminnodes
from tandem.hpc.mgmt.harpms import DPKG, Harpms, PackageSource, _dpkg_line
from tandem.hpc.mgmt.hasynchro import Hasynchro
from tandem.hpc.mgmt.nodes import admin_nodes, find_peer
from tandem.hpc.mgmt.transport import CommandTransport, SshTransport, Transport

EXAMPLE_CONFIG = Path(__file__).parents[2] / "examples" / "cell2.toml"


class InDirectory(Transport):
    """Runs the command locally in the peer's directory (one method, as transports go)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def remote_argv(self, peer: str, argv: Sequence[str]) -> list[str]:
        return ["sh", "-c", 'cd "$0" && exec "$@"', str(self.directory / peer), *argv]


@pytest.fixture()
def ctx(tmp_path: Path, lines: list[str]) -> MgmtContext:
    """ns0 is active with its tree in active/; the peer ns13 has its tree in passive/."""
    (tmp_path / "passive").mkdir()
    return MgmtContext.under(tmp_path / "active", node="ns0", peer="ns13",
                             transport=CommandTransport([]), force=True,
                             peer_sysroot=str(tmp_path / "passive"), out=lines.append)


def test_transports_build_command_lines() -> None:
    assert SshTransport().remote_argv("ns13", ["cat", "/etc/a b"]) == [
        "ssh", "-o", "BatchMode=yes", "--", "ns13", "cat '/etc/a b'"]
    lab = CommandTransport.parse("tandem lab exec --lab L {peer} --")
    assert lab.remote_argv("node2", ["sh", "-c", "x y"]) == [
        "tandem", "lab", "exec", "--lab", "L", "node2", "--", "sh", "-c", "x y"]
    assert CommandTransport([]).describe() == "local"


# -- hasynchro -----------------------------------------------------------------------------
@pytest.fixture()
def synchro(ctx: MgmtContext, tmp_path: Path) -> Path:
    write(ctx.host("/etc/hosts"), "198.51.100.1 ns0\n")
    write(ctx.host("/etc/ssh/ssh_host_rsa_key"), "SECRET\n", 0o600)
    write(ctx.host("/etc/HA/mnttab"), "/dev/sdb1 /varha\n")
    passive = tmp_path / "passive"
    write(passive / "etc/hosts", "198.51.100.1 ns0\n")
    write(passive / "etc/ssh/ssh_host_rsa_key", "SECRET\n", 0o644)  # mode differs
    return write(ctx.data("synchro"), "# files\n/etc/hosts\n/etc/HA/mnttab\n"
                                      "/etc/ssh/ssh_host_rsa_key\n")


def test_hasynchro_status_fails_at_the_first_difference(ctx: MgmtContext,
                                                        synchro: Path) -> None:
    with pytest.raises(CheckFailed, match=rf"^{synchro}:3: /etc/HA/mnttab on ns13: missing"):
        Hasynchro(ctx).run("status")
    write(Path(ctx.peer_path("/etc/HA/mnttab")), "/dev/sdb1 /varha\n")
    with pytest.raises(CheckFailed, match=rf"^{synchro}:4: /etc/ssh/ssh_host_rsa_key on ns13: "
                                          r"mode 644 instead of 600"):
        Hasynchro(ctx).run("start")
    write(Path(ctx.peer_path("/etc/hosts")), "198.51.100.66 ns0\n")
    with pytest.raises(CheckFailed, match=rf"^{synchro}:2: .* content differs"):
        Hasynchro(ctx).run("status")


def test_hasynchro_repair_copies_and_second_run_is_ok(ctx: MgmtContext, synchro: Path,
                                                      lines: list[str]) -> None:
    assert Hasynchro(ctx).run("repair") == "OK (2 files copied to ns13)"
    key = Path(ctx.peer_path("/etc/ssh/ssh_host_rsa_key"))
    assert key.read_text() == "SECRET\n" and key.stat().st_mode & 0o777 == 0o600
    assert Path(ctx.peer_path("/etc/HA/mnttab")).read_text() == "/dev/sdb1 /varha\n"
    assert lines == ["/etc/HA/mnttab: copied to ns13 (missing there)",
                     "/etc/ssh/ssh_host_rsa_key: copied to ns13 (mode 644 instead of 600 "
                     "there)"]
    assert not list(key.parent.glob("*.tandem-sync*"))  # no temporary file left
    lines.clear()
    assert Hasynchro(ctx).run("repair") == "OK"
    assert lines == []
    assert Hasynchro(ctx).run("status") == "OK (3 files identical on ns13)"


def test_hasynchro_refuses_a_file_missing_here(ctx: MgmtContext, synchro: Path) -> None:
    ctx.host("/etc/hosts").unlink()
    with pytest.raises(CheckFailed, match=rf"^{synchro}:2: /etc/hosts is missing on this "
                                          r"node \(ns0\)"):
        Hasynchro(ctx).run("repair")
    assert not Path(ctx.peer_path("/etc/HA/mnttab")).exists()  # nothing was copied


def test_hasynchro_runs_only_on_the_active_node(ctx: MgmtContext, synchro: Path) -> None:
    ctx.force = False
    # mnttab lists /varha, which is not mounted here: this node is not active.
    with pytest.raises(CheckFailed, match=r"this node \(ns0\) is not the active management"):
        Hasynchro(ctx).run("repair")
    ctx.host("/etc/HA/mnttab").unlink()
    write(synchro, "/etc/hosts\n")
    with pytest.raises(CheckFailed, match="cannot tell whether this node is active"):
        Hasynchro(ctx).run("status")


def test_hasynchro_reports_a_broken_transport(ctx: MgmtContext, synchro: Path) -> None:
    ctx.transport = CommandTransport(["false"])
    with pytest.raises(CheckFailed, match="reading the files on ns13 through false failed"):
        Hasynchro(ctx).run("status")


# -- harpms --------------------------------------------------------------------------------
@pytest.fixture()
def packages(ctx: MgmtContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Package lists: this node's in here/, the peer's in peers/ns13/."""
    here = tmp_path / "here"
    write(here / "pkgs", "bash 5.2\nkernel 6.1\nkernel 6.2\nslurm 22.05\nzsh 5.9\n")
    write(tmp_path / "peers/ns13/pkgs", "bash 5.2\nkernel 6.2\nkernel 6.1\nslurm 23.02\n"
                                        "munge 0.5\n")
    monkeypatch.chdir(here)
    ctx.transport = InDirectory(tmp_path / "peers")
    ctx.package_command = ("cat", "pkgs")
    return tmp_path / "peers/ns13/pkgs"


def test_harpms_status_and_fullstatus(ctx: MgmtContext, packages: Path,
                                      lines: list[str]) -> None:
    with pytest.raises(CheckFailed, match=r"^packages differ: munge 0.5 only on ns13 "
                                          r"\(and 2 more\)"):
        Harpms(ctx).run("status")
    with pytest.raises(CheckFailed, match=r"^3 package differences between ns0 and ns13"):
        Harpms(ctx).run("fullstatus")
    assert lines == ["munge 0.5 only on ns13", "slurm: 22.05 on ns0, 23.02 on ns13",
                     "zsh 5.9 only on ns0"]
    write(packages, "kernel 6.1\nbash 5.2\nkernel 6.2\nslurm 22.05\nzsh 5.9\n")
    assert Harpms(ctx).run("fullstatus") == "OK (4 packages, same on ns0 and ns13)"


def test_harpms_names_a_failing_or_odd_command(ctx: MgmtContext, packages: Path) -> None:
    packages.unlink()
    with pytest.raises(CheckFailed, match=r"^`cat pkgs` failed on ns13 \(exit 1\): .*pkgs"):
        Harpms(ctx).run("status")
    ctx.package_command = ("no-such-package-lister",)
    with pytest.raises(CheckFailed, match="`no-such-package-lister`: cannot run"):
        Harpms(ctx).run("status")
    ctx.package_command = ("echo", "lonely")
    with pytest.raises(CheckFailed, match="printed a line that is not NAME VERSION"):
        Harpms(ctx).run("status")


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg")
def test_harpms_with_dpkg_on_both_sides(ctx: MgmtContext) -> None:
    assert Harpms(ctx).source() == DPKG
    summary = Harpms(ctx).run("status")
    assert summary.startswith("OK (") and "same on ns0 and ns13" in summary


def test_dpkg_lines_keep_installed_packages_only() -> None:
    assert _dpkg_line("ii \tbash:amd64\t5.2-1") == ("bash:amd64", "5.2-1")
    assert _dpkg_line("rc \told:amd64\t1.0") == ("", "")
    assert _dpkg_line("garbage") is None
    source = PackageSource(("x",), _dpkg_line)
    assert source.read_line("hi \theld:all\t2") == ("held:all", "2")


# -- management nodes ------------------------------------------------------------------------
def test_admin_nodes_from_the_data_file(ctx: MgmtContext, lines: list[str]) -> None:
    write(ctx.data("adminnodes"), "# management nodes\nns[0,13]\n")
    assert admin_nodes(ctx) == ["ns0", "ns13"]
    ctx.peer = None
    assert find_peer(ctx) == "ns13"
    ctx.node = "ns13.cluster.example"
    assert find_peer(ctx) == "ns0"
    assert Haadminnodes(ctx).run(None) == ""
    assert lines == ["ns0", "ns13"]


def test_admin_nodes_from_the_cell_configuration(ctx: MgmtContext) -> None:
    ctx.cluster_config.parent.mkdir(parents=True)
    shutil.copyfile(EXAMPLE_CONFIG, ctx.cluster_config)
    nodes = admin_nodes(ctx)
    assert len(nodes) == 2
    ctx.peer, ctx.node = None, nodes[1]
    assert find_peer(ctx) == nodes[0]


def test_peer_problems(ctx: MgmtContext) -> None:
    ctx.peer = None
    with pytest.raises(DataError, match="no list of management nodes"):
        find_peer(ctx)
    path = write(ctx.data("adminnodes"), "ns[0,13]\nns[\n")
    with pytest.raises(DataError, match=rf"^{path}:2: not a node set"):
        find_peer(ctx)
    write(path, "ns[0,13,14]\n")
    with pytest.raises(UsageProblem, match="cannot tell which node is the peer"):
        find_peer(ctx)
    ctx.node = "login1"
    with pytest.raises(UsageProblem, match=r"this node \(login1\) is not among"):
        find_peer(ctx)
