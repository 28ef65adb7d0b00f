"""`tandem ha config-admin`: the management pair's cell configuration generated from the
/etc/HA files and an inventory (every generated text must load as a cell configuration),
the explanation and warnings, the choice of nodes, one-line errors for bad inputs, and
the command line."""

from __future__ import annotations

import socket
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mgmtkit import write
from tandem.cli.main import main as tandem_main
from tandem.config import load_config
from tandem.config.model import TimingDef
from tandem.hpc.mgmt import config_admin as ca
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import DataError, UsageProblem

NODE = """
[[nodes]]
name = "{name}"
networks.admin = {{ interface = "eth0", address = "198.51.100.{n}/24" }}
networks.backbone = {{ interface = "eth1", address = "203.0.113.{n}/24" }}
bmc = {{ address = "198.51.100.{bmc}", user = "admin", password_file = "/etc/tandem/bmc.pw" }}
"""
INVENTORY = NODE.format(name="ns13", n=13, bmc=113) + NODE.format(name="ns0", n=10, bmc=110)

HA_FILES = {
    "ip": "\teth0\t198.51.100.65/24\n",
    "mnttab": "/dev/sdf   /etcha\n/dev/sdh   /varha\n",
    "start": "/etc/HA/bin/hamount\n/etc/HA/bin/halinks\n/etc/HA/bin/haip\n"
             "/etc/init.d/postgresql\n",
    "stop": "/etc/init.d/postgresql\n/etc/HA/bin/haip\n/etc/HA/bin/hamount\n",
    "status": "# This file must be empty: there is no monitoring of status yet.\n",
}


@pytest.fixture()
def ctx(tmp_path: Path) -> MgmtContext:
    """/etc/HA with the manual's files and an inventory of ns0 and ns13; we are ns0."""
    root = tmp_path / "HA"
    for name, text in HA_FILES.items():
        write(root / name, text)
    write(root / ca.INVENTORY_FILE, INVENTORY)
    return MgmtContext(root=root, node="ns0.cluster")


def generate(ctx: MgmtContext, nodes: tuple[str, str] = ("ns0", "ns13"),
             output: Path | None = None, **choices: Any) -> ca.Generated:
    inventory = ca.load_inventory(ctx.root / ca.INVENTORY_FILE)
    return ca.generate(inventory, nodes, ca.read_ha_files(ctx), ca.Choices(**choices),
                       output=output)


def test_the_pair_as_the_manual_sets_it_up(ctx: MgmtContext, tmp_path: Path) -> None:
    made = generate(ctx)
    config = made.config
    assert (config.name, config.config_version, config.two_node, config.wait_for_all) == (
        "mgmt", 1, True, True)
    assert [(n.name, n.id) for n in config.nodes] == [("ns0", 1), ("ns13", 2)]
    assert [r.name for r in config.rings] == ["admin", "backbone"]
    ns0, ns13 = config.nodes
    assert [(lvl.devices, lvl.delay_ms) for lvl in ns0.fence] == [
        (("bmc",), 3000), (("operator",), None)]
    assert [(lvl.devices, lvl.delay_ms) for lvl in ns13.fence] == [
        (("bmc",), None), (("operator",), None)]
    assert ns13.bmc is not None and ns13.bmc.password_file == "/etc/tandem/bmc.pw"
    assert {d.name: d.type for d in config.fence_devices} == {"bmc": "ipmi",
                                                              "operator": "manual"}
    service = config.service("HA_NSM")
    assert not service.autostart and service.domain.nodes == (("ns0", 1), ("ns13", 2))
    assert service.domain.restricted and not service.domain.failback
    [resource] = service.resources
    assert resource.agent == "haservices"
    assert resource.params == {"root": str(ctx.root.absolute()), "command_timeout_s": 120.0}
    assert resource.timeouts == {"start": 300.0, "stop": 300.0}
    assert made.warnings == []
    # What is written is what was checked, and a second run gives the same text.
    out = write(tmp_path / "cluster.toml", made.text)
    assert load_config(out).nodes == config.nodes
    assert generate(ctx).text == made.text


def test_the_explanation_covers_each_part(ctx: MgmtContext) -> None:
    text = "\n".join(generate(ctx).explanation)
    for expected in ("ring 0 on admin (ns0 198.51.100.10 on eth0, ns13 198.51.100.13 on eth0)",
                     "ns0 is the primary", "fencing ns0 waits 3 s", "tandem fence ack",
                     "wait_for_all", "manual start", "clusvcadm -e HA_NSM",
                     "start: hamount, halinks, haip, postgresql",
                     "status, every 30 s: the list is empty",
                     "198.51.100.65/24 on eth0 (network admin)",
                     "/dev/sdf on /etcha, /dev/sdh on /varha"):
        assert expected in text


def test_choices(ctx: MgmtContext) -> None:
    made = generate(ctx, name="mgmt2", autostart=True, wait_for_all=False, fence_delay_ms=0,
                    timing=TimingDef(heartbeat_ms=100, token_ms=600), config_version=7,
                    env={"TANDEM_HA_SYSROOT": "/srv/mgmt"}, node_root="/etc/HA")
    config = made.config
    assert (config.name, config.config_version, config.wait_for_all) == ("mgmt2", 7, False)
    assert config.timing.token_ms == 600 and config.service("HA_NSM").autostart
    assert config.nodes[0].fence[0].delay_ms is None
    params = config.service("HA_NSM").resources[0].params
    assert params["root"] == "/etc/HA" and params["env"] == {"TANDEM_HA_SYSROOT": "/srv/mgmt"}
    assert any("wait_for_all is off" in w for w in made.warnings)


def test_long_lists_get_longer_timeouts(ctx: MgmtContext) -> None:
    write(ctx.data("start"), "".join(f"/etc/init.d/s{i}\n" for i in range(8)))
    resource = generate(ctx).config.service("HA_NSM").resources[0]
    assert resource.timeouts == {"start": 480.0, "stop": 300.0}


def test_warnings_for_what_would_not_follow_the_service(ctx: MgmtContext) -> None:
    write(ctx.data("stop"), "/etc/init.d/postgresql\n")
    ctx.data("ip").unlink()
    warnings = generate(ctx).warnings
    assert any("stop does not run hamount" in w for w in warnings)
    assert any("lists no virtual address" in w for w in warnings)


def test_one_heartbeat_network_is_warned_about(ctx: MgmtContext) -> None:
    write(ctx.data(ca.INVENTORY_FILE), 'heartbeat = ["admin"]\n' + INVENTORY)
    made = generate(ctx)
    assert [n.name for n in made.config.rings] == ["admin"]
    assert made.config.network("backbone").ring is None  # declared, no heartbeats
    assert any("only one heartbeat network" in w for w in made.warnings)


def test_next_version_follows_the_existing_output(ctx: MgmtContext, tmp_path: Path) -> None:
    out = tmp_path / "cluster.toml"
    write(out, generate(ctx, config_version=4).text)
    assert generate(ctx, output=out).config.config_version == 5
    write(out, "not toml [")
    assert generate(ctx, output=out).config.config_version == 1


# -- which nodes ------------------------------------------------------------------------------
def test_pick_nodes(ctx: MgmtContext) -> None:
    assert ca.pick_nodes(ctx, ["ns13"]) == ("ns0", "ns13")  # this node and the one given
    assert ca.pick_nodes(ctx, ["ns13", "ns0"]) == ("ns0", "ns13")  # primary: alphabetical
    with pytest.raises(UsageProblem, match="name the secondary node"):
        ca.pick_nodes(ctx, [])
    write(ctx.data("adminnodes"), "ns[0,13]\n")
    assert ca.pick_nodes(ctx, []) == ("ns0", "ns13")
    write(ctx.data("adminnodes"), "ns[0,13,14]\n")
    with pytest.raises(DataError, match="expected the two management nodes, found 3"):
        ca.pick_nodes(ctx, [])
    with pytest.raises(UsageProblem, match="must differ"):
        ca.pick_nodes(ctx, ["ns0"])
    with pytest.raises(UsageProblem, match="two nodes, 3 given"):
        ca.pick_nodes(ctx, ["a", "b", "c"])


# -- bad inputs: one line naming the file and the problem ----------------------------------------
@pytest.mark.parametrize(("inventory", "problem"), [
    ("[[nodes]\n", "not valid TOML"),
    ('[[nodes]]\nname = "ns0"\ncolour = "red"\n', "nodes[0].colour: unknown key"),
    ('[[nodes]]\nname = "ns0"\nnetworks.admin = { interface = "eth0", address = "10.1" }\n',
     "nodes[0].networks.admin.address: expected an address with a prefix length"),
    ('[[nodes]]\nname = "ns0"\nbmc = { address = "198.51.100.1" }\n',
     "nodes[0].bmc: needs either password or password_file"),
    (INVENTORY + NODE.format(name="ns0", n=20, bmc=120), "node 'ns0' is listed twice"),
    (NODE.format(name="ns0", n=10, bmc=110), "no node 'ns13' in the inventory (it has: ns0)"),
    ('heartbeat = ["ib0"]\n' + INVENTORY, "heartbeat network 'ib0': node ns0 has no "
                                          "interface on it"),
    (INVENTORY.replace('bmc = { address = "198.51.100.113", user = "admin", '
                       'password_file = "/etc/tandem/bmc.pw" }', ""),
     "node ns13 has no bmc in the inventory"),
])
def test_bad_inventory(ctx: MgmtContext, inventory: str, problem: str) -> None:
    write(ctx.data(ca.INVENTORY_FILE), inventory)
    with pytest.raises(DataError) as caught:
        generate(ctx)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("ip", "\tbond0\t198.51.100.65/24\n", "ip:1: interface bond0 is not an interface of "
                                          "ns0 and ns13"),
    ("ip", "\teth0\t198.51.100.13/24\n", "ip:1: 198.51.100.13 is the address of ns13"),
    ("ip", "eth0 10.1.0.65\n", "ip:1: expected <TAB>INTERFACE<TAB>A.B.C.D/PREFIX"),
    ("mnttab", "sdf /etcha\n", "mnttab:1: expected /dev/DEVICE and a mount point"),
    ("start", "hamount\n", "start:1: expected an absolute path"),
])
def test_bad_ha_files(ctx: MgmtContext, name: str, text: str, problem: str) -> None:
    write(ctx.data(name), text)
    with pytest.raises(DataError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        generate(ctx)


def test_the_three_lists_must_exist(ctx: MgmtContext) -> None:
    ctx.data("status").unlink()
    with pytest.raises(DataError, match="status: data file is missing"):
        generate(ctx)


# -- TOML text -----------------------------------------------------------------------------------
_keys = st.text(min_size=1, max_size=8)
_scalars = st.one_of(st.text(max_size=20), st.booleans(), st.integers(-10**6, 10**6))


@given(st.dictionaries(_keys, st.one_of(_scalars, st.lists(_scalars, max_size=3),
                                        st.dictionaries(_keys, _scalars, max_size=3)),
                       max_size=4))
def test_values_read_back_as_written(value: dict[str, Any]) -> None:
    assert tomllib.loads(f"x = {ca.toml_value(value)}\n") == {"x": value}


# -- the command line -----------------------------------------------------------------------------
def test_cli_writes_a_private_file_and_explains(ctx: MgmtContext, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cluster.toml"
    status = tandem_main(["ha", "config-admin", "ns0", "ns13", "--root", str(ctx.root),
                          "--output", str(out), "--token-ms", "800"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out.startswith(f"config-admin: configuration of ns0 and ns13 written to "
                                   f"{out}:\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it may hold BMC passwords
    assert load_config(out).timing.token_ms == 800
    assert tandem_main(["config", "check", str(out)]) == 0


def test_cli_prints_the_configuration_when_no_file_is_given(
        ctx: MgmtContext, capsys: pytest.CaptureFixture[str]) -> None:
    status = tandem_main(["ha", "config-admin", "ns0", "ns13", "--root", str(ctx.root), "-q",
                          "--inventory", str(ctx.data(ca.INVENTORY_FILE))])
    captured = capsys.readouterr()
    assert status == 0 and captured.err == ""
    assert tomllib.loads(captured.out)["services"][0]["name"] == "HA_NSM"


@pytest.mark.parametrize(("argv", "message"), [
    (["ns0", "ns13", "--inventory", "/nonexistent/inv.toml"],
     "config-admin: error: /nonexistent/inv.toml: inventory file is missing"),
    (["ns0", "ns13", "--env", "NOEQUALS"], "config-admin: error: --env: expected KEY=VALUE"),
    (["ns0", "ns0"], "config-admin: error: the two management nodes must differ"),
])
def test_cli_errors_are_one_line(ctx: MgmtContext, capsys: pytest.CaptureFixture[str],
                                 argv: list[str], message: str) -> None:
    status = tandem_main(["ha", "config-admin", "--root", str(ctx.root), *argv])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.startswith(message) and captured.err.count("\n") == 1


def test_the_example_pair_generates_without_warnings() -> None:
    example = Path(__file__).parents[2] / "examples" / "mgmt-ha"
    ctx = MgmtContext(root=example / "HA", node="node1")
    made = ca.generate(ca.load_inventory(example / "inventory.toml"),
                       ca.pick_nodes(ctx, ["node2"]), ca.read_ha_files(ctx), ca.Choices(),
                       output=None)
    assert made.warnings == []
    assert made.config.service("HA_NSM").resources[0].agent == "haservices"


def test_the_manuals_command_name(ctx: MgmtContext, capsys: pytest.CaptureFixture[str]) -> None:
    """`cs-config-admin NODE`: the pair is this machine and the node named; this machine
    is not in the inventory here, and the error says so."""
    from tandem.cli.ha_cmd import config_admin_main

    with pytest.raises(SystemExit) as ended:
        config_admin_main(["ns13", "--root", str(ctx.root)])
    this = socket.gethostname().split(".")[0]
    assert ended.value.code == 2
    assert f"no node {this!r} in the inventory (it has: ns13, ns0)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ended:
        config_admin_main(["ns13", "ns0", "--root", str(ctx.root), "-q"])
    assert ended.value.code == 0
    assert [n["name"] for n in tomllib.loads(capsys.readouterr().out)["nodes"]] == [
        "ns0", "ns13"]
