"""`tandem config import-rhcs`: Red Hat Cluster Suite cluster.conf files as tandem cells.

The files under data/rhcs/ were written for these tests from the manual's cells (the
management pair running HA_NSM, an NFS I/O pair with a quorum disk) and the RHEL 5
schema: each good file imports, loads, and gives exactly the notes of its `.notes`
file (`LINE: PATH: NOTE`); each broken one gives one line, `FILE:LINE: problem`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tandem.cli.main import main as tandem_main
from tandem.config import ConfigError, parse_config
from tandem.config.importers.addresses import parse_address, parse_resolve
from tandem.config.importers.errors import ImportProblem, OptionError
from tandem.config.importers.rhcs import RhcsImport, import_rhcs
from tandem.config.importers.rhcs_context import ImportOptions
from tandem.quorum.qdisk.config import QdiskDef

DATA = Path(__file__).parent / "data" / "rhcs"
EXAMPLE = Path(__file__).parents[2] / "examples" / "rhcs" / "cluster.conf"
ADDRESSES = {
    "mgmt-pair": ["ns0=admin:eth0:198.51.100.10/24", "ns13=admin:eth0:198.51.100.23/24",
                  "ns0=backbone:eth1:203.0.113.10/24", "ns13=backbone:eth1:203.0.113.23/24"],
    "io-pair-qdisk": ["xena1=admin:eth0:198.51.100.1/24",
                      "xena11=admin:eth0:198.51.100.11/24"],
    "three-node": [f"svc{i}=admin:eth0:198.51.100.2{i}/24" for i in (1, 2, 3)]
                  + [f"svc{i}=public:eth1:203.0.113.2{i}/24" for i in (1, 2, 3)],
}
# The command line of the README section and of the example's header.
EXAMPLE_ADDRESSES = ["io1=backbone:eth1:203.0.113.1/24", "io2=backbone:eth1:203.0.113.2/24",
                     "io1=admin:eth0:198.51.100.1/24", "io2=admin:eth0:198.51.100.2/24"]


def run(path: Path, addresses: list[str] | None = None, **options: object) -> RhcsImport:
    specs = tuple(parse_address(a) for a in addresses or [])
    return import_rhcs(path.read_text(), str(path),
                       ImportOptions(addresses=specs, **options))  # type: ignore[arg-type]


def note_lines(result: RhcsImport) -> list[str]:
    return [f"{n.line}: {n}" for n in result.notes]


def expected_notes(name: str) -> list[str]:
    return (DATA / f"{name}.notes").read_text().splitlines()


# -- the good files -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_each_file_imports_loads_and_says_exactly_what_it_changed(name: str) -> None:
    result = run(DATA / f"{name}.conf", ADDRESSES[name])
    assert result.complete
    assert parse_config(result.text, str(DATA / f"{name}.conf")) == result.config
    assert note_lines(result) == expected_notes(name)
    header = result.text.split("\n[cluster]")[0]
    assert f"Imported from {DATA / name}.conf" in header.splitlines()[0]
    for line in expected_notes(name):  # the notes are in the file too, for later
        assert f"#   {line}" in header


def test_the_example_imports_as_the_readme_says() -> None:
    result = run(EXAMPLE, EXAMPLE_ADDRESSES)
    config = parse_config(result.text)
    assert [n.name for n in config.rings] == ["backbone", "admin"]
    assert config.section(QdiskDef) is not None
    assert [r.name for r in config.service("nfs_service").resources] == [
        "home", "scratch", "ip-203.0.113.76", "nfs_daemons"]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    command = " ".join(f"--address {a}" for a in EXAMPLE_ADDRESSES)
    assert command in re.sub(r"\s*\\\n\s*", " ", readme)


def test_the_management_pair() -> None:
    config = run(DATA / "mgmt-pair.conf", ADDRESSES["mgmt-pair"]).config
    assert (config.name, config.config_version, config.two_node, config.wait_for_all) == (
        "mgmt", 7, True, True)
    ns0 = config.node("ns0")
    assert ns0.id == 1 and ns0.bmc is not None
    assert (ns0.bmc.address, ns0.bmc.user, ns0.bmc.password) == ("198.51.100.200", "admin",
                                                                 None)
    assert ns0.bmc.password_file == "/etc/tandem/fence/ns0-bmc.password"
    assert [lv.devices for lv in ns0.fence] == [("ipmi_ns0",)]
    assert config.fence_device("ipmi_ns0").type == "ipmi"
    svc = config.service("HA_NSM")
    assert (svc.autostart, svc.recovery) == (False, "relocate")
    assert svc.domain.nodes == (("ns0", 1), ("ns13", 2))
    assert (svc.domain.restricted, svc.domain.failback) == (True, False)


def test_resources_keep_rgmanagers_start_order() -> None:
    """A service starts its file systems, then its addresses, then its scripts,
    whatever the file's order (rgmanager's service.sh); tandem stops in reverse."""
    svc = run(DATA / "mgmt-pair.conf", ADDRESSES["mgmt-pair"]).config.service("HA_NSM")
    assert [(r.name, r.agent) for r in svc.resources] == [
        ("etcha", "fs"), ("usrha", "fs"), ("varha", "fs"), ("tftpboot", "fs"),
        ("homeha", "fs"), ("ip-198.51.100.65", "ip"), ("ip-203.0.113.65", "ip"),
        ("haservices", "script")]
    assert svc.resources[0].params == {"device": "/dev/sdf", "mountpoint": "/etcha",
                                       "fstype": "ext3", "force_unmount": True}
    assert svc.resources[5].params == {"address": "198.51.100.65/24", "interface": "eth0"}
    assert svc.resources[6].params == {"address": "203.0.113.65/24", "interface": "eth1"}


NESTED = """<?xml version="1.0"?>
<cluster name="n" config_version="1">
  <cman two_node="1" expected_votes="1"/>
  <totem token="1000"/>
  <clusternodes><clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/>
  </clusternodes>
  <rm>
    <service name="s">
      <script name="app" file="/etc/init.d/app"/>
      <ip address="198.51.100.9"/>
      <fs name="data" device="/dev/sdb" mountpoint="/data">
        <script name="inner" file="/etc/init.d/inner"/>
        <fs name="sub" device="/dev/sdc" mountpoint="/data/sub"/>
      </fs>
    </service>
  </rm>
</cluster>
"""


def test_nested_resources_are_flattened_parents_first() -> None:
    result = import_rhcs(NESTED, "nested.conf", ImportOptions(addresses=(
        parse_address("a=admin:eth0:198.51.100.1/24"),
        parse_address("b=admin:eth0:198.51.100.2/24"))))
    assert [r.name for r in result.config.service("s").resources] == [
        "data", "sub", "inner", "ip-198.51.100.9", "app"]
    assert (
        "8: rm/service[s]: resources start in rgmanager's order (parents first, then by "
        "type), stop in reverse: data, sub, inner, ip-198.51.100.9, app") in note_lines(result)


def test_the_quorum_disk_pair() -> None:
    config = run(DATA / "io-pair-qdisk.conf", ADDRESSES["io-pair-qdisk"]).config
    qdisk = config.section(QdiskDef)
    assert qdisk is not None
    assert (qdisk.label, qdisk.interval_ms, qdisk.tko, qdisk.votes, qdisk.min_score) == (
        "xena_io1_qdisk", 1000, 10, 1, 1)
    assert [h.command for h in qdisk.heuristics] == [
        ("ping", "-c1", "-w1", "198.51.100.254"),
        ("sh", "-c", "ethtool eth1 | grep -q 'Link detected: yes'")]
    assert [(h.interval_s, h.tko) for h in qdisk.heuristics] == [(2.0, 1), (3.0, 2)]
    assert (config.two_node, config.expected_votes, config.total_votes) == (False, 0, 3)
    assert config.timing.token_ms == 21000
    xena1 = config.node("xena1")
    assert [(lv.devices, lv.delay_ms) for lv in xena1.fence] == [
        (("bmc",), 15000), (("operator",), None)]
    assert xena1.bmc is not None and xena1.bmc.address == "198.51.100.201"
    assert config.fence_device("operator").type == "manual"
    svc = config.service("nfs_service")
    assert [r.name for r in svc.resources] == ["home", "ip-198.51.100.76", "nfs_daemons"]
    assert svc.resources[0].params["options"] == "noatime"
    assert svc.domain.failback


def test_three_nodes_with_external_agents_and_domains() -> None:
    config = run(DATA / "three-node.conf", ADDRESSES["three-node"]).config
    assert [n.name for n in config.nodes] == ["svc1", "svc2", "svc3"]
    pdu2 = config.fence_device("pdu-svc2")
    assert (pdu2.type, pdu2.agent, pdu2.address, pdu2.user) == (
        "external", "fence_apc", "198.51.100.40", "apc")
    assert dict(pdu2.options) == {"switch": "1", "port": "2"}
    assert pdu2.password_file == "/etc/tandem/fence/pdu.password"
    assert [lv.devices for lv in config.node("svc2").fence] == [("ilo-svc2",), ("pdu-svc2",)]
    web, db, reports = config.services
    assert (web.max_restarts, web.restart_window_s, web.domain.failback) == (2, 600.0, True)
    assert db.domain.nodes == (("svc2", 1), ("svc3", 2)) and not db.domain.failback
    assert db.resources[0].params["fsck"] is True
    assert reports.domain.nodes == (("svc1", 1), ("svc2", 1), ("svc3", 1))
    assert reports.domain.restricted


def test_what_cannot_be_known_is_left_to_fill_in() -> None:
    result = run(DATA / "odd.conf")
    assert note_lines(result) == expected_notes("odd")
    assert result.fill_ins == [
        "nodes[0].networks.admin", "nodes[1].networks.admin", "nodes[0].bmc.address",
        "qdisk.device", "services[0].resources[0].params.address",
        "services[0].resources[0].params.interface"]
    with pytest.raises(ConfigError) as refused:
        parse_config(result.text, "odd.toml")
    assert refused.value.where == "nodes[0].networks.admin.interface"
    assert "<fill in nodes[0].networks.admin.interface>" in refused.value.problem
    assert result.config.timing.token_ms == 24000  # raised for the disk's 2 s x 10
    assert not result.config.two_node


def test_the_loader_names_each_fill_in() -> None:
    """Fill in the addresses one after the other: each time the loader stops at the
    next placeholder, by its key."""
    text = run(DATA / "odd.conf").text
    values = {"nodes[0].networks.admin.interface": "eth0",
              "nodes[0].networks.admin.address": "198.51.100.1/24",
              "nodes[0].bmc.address": "198.51.100.101",
              "nodes[1].networks.admin.interface": "eth0",
              "nodes[1].networks.admin.address": "198.51.100.2/24",
              "qdisk.device": "/dev/disk/by-id/wwn-0x1"}
    for key, value in values.items():
        with pytest.raises(ConfigError) as refused:
            parse_config(text)
        assert refused.value.where.startswith(key.split(".address")[0])
        text = text.replace(f"<fill in {key}>", value)
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert refused.value.where.endswith(".params.address")


# -- secrets --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [*(DATA / f"{n}.conf" for n in (*ADDRESSES, "odd")),
                                  EXAMPLE])
def test_no_password_of_the_file_is_ever_written(path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    secrets = [value for element in ET.parse(path).iter()
               for key, value in element.attrib.items()
               if "passw" in key and not key.endswith("_script")]
    assert secrets or path.stem == "odd"
    addresses = ADDRESSES.get(path.stem, EXAMPLE_ADDRESSES if path == EXAMPLE else [])
    result = run(path, addresses)
    assert tandem_main(["config", "import-rhcs", str(path), "--json"]) == 0
    printed = capsys.readouterr()
    for secret in secrets:
        for text in (result.text, "\n".join(note_lines(result)), printed.out, printed.err):
            assert secret not in text


# -- broken files ---------------------------------------------------------------------------
BROKEN = {
    "broken-not-xml": "6: not well-formed XML: mismatched tag (column 4)",
    "broken-empty": "1: not well-formed XML: no element found (column 1)",
    "broken-not-cluster": "2: not a cluster.conf: the root element is <cib>, not <cluster>",
    "broken-entities": "3: entity declaration 'a' refused: a cluster configuration has no "
                       "use for one",
    "broken-no-nodes": "4: clusternodes: no <clusternode>: a cell needs its nodes",
    "broken-votes": "5: clusternodes/clusternode[io4]: votes=\"two\" is not a whole number",
    "broken-duplicate-id": "6: clusternodes/clusternode[io4]: nodeid 1 is also io3's",
    "broken-two-node-three": "3: cman: two_node=1 needs exactly 2 clusternodes, not 3",
    "broken-unknown-device": "15: clusternodes/clusternode[io4]/fence/method[1]/"
                             "device[ipmi-io4]: no fencedevice named 'ipmi-io4'",
    "broken-unknown-domain": "15: rm/service[lustre_io3]: no failoverdomain called "
                             "'io2-domain'",
    "broken-qdisk-score": "4: quorumd: qdisk.min_score: 5 can never be reached: the "
                          "heuristics score at most 1",
    "broken-unknown-ref": "14: rm/service[nfs_service]/ip[198.51.100.76]: no <ip> "
                          "'198.51.100.76' under <rm><resources>",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_file_is_one_line_and_writes_nothing(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / f"{name}.conf"
    with pytest.raises(ImportProblem) as refused:
        run(path)
    assert str(refused.value) == f"{path}:{BROKEN[name]}"
    out = tmp_path / "out.toml"
    assert tandem_main(["config", "import-rhcs", str(path), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"tandem: error: {path}:{BROKEN[name]}\n"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_note_or_error_names_the_line_where_the_element_starts() -> None:
    text = '<cluster\n  name="x"\n  config_version="1">\n<clusternodes><clusternode\n' \
           '   name="a"\n   nodeid="x"/></clusternodes></cluster>'
    with pytest.raises(ImportProblem, match=r"^t.conf:4: clusternodes/clusternode\[a\]: "
                                            r'nodeid="x" is not a whole number$'):
        import_rhcs(text, "t.conf")


def test_a_cell_tandem_would_refuse_is_an_error_naming_the_check() -> None:
    text = NESTED.replace('nodeid="2"', 'nodeid="2" votes="3"')
    with pytest.raises(ImportProblem, match=r"^n.conf:2: the imported cell does not pass "
                                            r"tandem's checks: cluster.two_node: two_node "
                                            r"needs each node to have 1 vote$"):
        import_rhcs(text, "n.conf", ImportOptions(addresses=(
            parse_address("a=admin:eth0:198.51.100.1/24"),
            parse_address("b=admin:eth0:198.51.100.2/24"))))


# -- addresses: given, resolved on request, never guessed -----------------------------------
@pytest.mark.parametrize(("option", "problem"), [
    ("ns0", "expected NODE=NETWORK:INTERFACE:ADDRESS/PREFIX"),
    ("ns0=admin:eth0", "expected NODE=NETWORK:INTERFACE:ADDRESS/PREFIX"),
    ("ns0=admin:eth0:198.51.100.10", "needs a prefix length"),
    ("ns0=admin:eth0:198.51.100.300/24", "is not an address/prefix"),
    ("ns0=9net:eth0:198.51.100.10/24", "network name '9net'"),
    ("ns0=admin:eth 0:198.51.100.10/24", "interface name 'eth 0'"),
])
def test_a_bad_address_option_is_one_line(option: str, problem: str) -> None:
    with pytest.raises(OptionError, match=re.escape(problem)):
        parse_address(option)


def test_an_ipv6_address_option() -> None:
    spec = parse_address("ns0=admin:eth0:2001:db8::10/64")
    assert (spec.node, spec.network, spec.interface, str(spec.address)) == (
        "ns0", "admin", "eth0", "2001:db8::10/64")


@pytest.mark.parametrize("option", ["admin", "admin:eth0", "admin:eth0/x", "admin:eth0/200"])
def test_a_bad_resolve_option_is_one_line(option: str) -> None:
    with pytest.raises(OptionError, match=r"^--resolve "):
        parse_resolve(option)


def test_an_address_for_a_node_the_file_does_not_have() -> None:
    with pytest.raises(OptionError, match=r"--address ns1=\.\.\.: no such node in .*"
                                          r"\(nodes: ns0, ns13\)$"):
        run(DATA / "mgmt-pair.conf", ["ns1=admin:eth0:198.51.100.10/24"])
    with pytest.raises(OptionError, match="two addresses for ns0 on admin"):
        run(DATA / "mgmt-pair.conf", ["ns0=admin:eth0:198.51.100.10/24",
                                      "ns0=admin:eth0:198.51.100.11/24"])


def test_names_and_bmcs_resolve_only_when_asked() -> None:
    asked: list[str] = []
    table = {"old1": "198.51.100.31", "old2": "127.0.0.2", "old1-bmc": "198.51.100.131"}

    def resolver(name: str) -> str | None:
        asked.append(name)
        return table.get(name)

    path = DATA / "odd.conf"
    assert run(path, resolver=resolver).fill_ins[0] == "nodes[0].networks.admin"
    assert asked == []
    result = run(path, resolve=parse_resolve("admin:eth0/24"), resolver=resolver)
    assert sorted(asked) == ["old1", "old1-bmc", "old2"]
    old1 = result.config.node("old1")
    assert [str(i.address) for i in old1.interfaces] == ["198.51.100.31/24"]
    assert old1.bmc is not None and old1.bmc.address == "198.51.100.131"
    assert result.fill_ins[:1] == ["nodes[1].networks.admin"]  # loopback is no answer
    lines = note_lines(result)
    assert "13: clusternodes/clusternode[old1]: address on admin: 198.51.100.31 is what " \
           "the resolver gives for old1" in lines
    assert "21: clusternodes/clusternode[old2]: address on admin: old2 does not resolve " \
           "to a usable address" in lines


# -- the command ----------------------------------------------------------------------------
def mgmt_argv(*extra: str) -> list[str]:
    argv = ["config", "import-rhcs", str(DATA / "mgmt-pair.conf")]
    for address in ADDRESSES["mgmt-pair"]:
        argv += ["--address", address]
    return argv + list(extra)


def test_the_command_writes_the_file_and_prints_the_notes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mgmt.toml"
    assert tandem_main(mgmt_argv("-o", str(out))) == 0
    captured = capsys.readouterr()
    source = DATA / "mgmt-pair.conf"
    assert captured.err.splitlines() == [f"{source}:{line}" for line in
                                         expected_notes("mgmt-pair")]
    assert captured.out == f"wrote {out}: cell mgmt, 2 nodes, 1 services, 9 notes\n"
    assert tandem_main(["config", "check", str(out)]) == 0
    assert run(source, ADDRESSES["mgmt-pair"]).text == out.read_text()


def test_the_command_never_overwrites_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mgmt.toml"
    out.write_text("# mine\n")
    assert tandem_main(mgmt_argv("-o", str(out))) == 1
    assert capsys.readouterr().err == (f"tandem: error: {out}: exists: give --force to "
                                       f"replace it\n")
    assert out.read_text() == "# mine\n"
    assert tandem_main(mgmt_argv("-o", str(out), "--force")) == 0
    assert out.read_text().startswith("# Imported from")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mgmt.toml"]


def test_the_command_prints_the_toml_without_an_output_file(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert tandem_main(mgmt_argv()) == 0
    captured = capsys.readouterr()
    assert parse_config(captured.out).name == "mgmt"
    assert len(captured.err.splitlines()) == 9


def test_the_command_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert tandem_main(["config", "import-rhcs", str(DATA / "odd.conf"), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    answer = json.loads(captured.out)
    assert (answer["cluster"], answer["complete"], answer["output"]) == ("lab-old", False,
                                                                         None)
    assert answer["fill_ins"][0] == "nodes[0].networks.admin"
    assert [f"{n['line']}: {n['path']}: {n['note']}" for n in answer["notes"]] == \
        expected_notes("odd")
    assert answer["toml"].startswith("# Imported from")


def test_an_incomplete_import_is_written_and_says_what_to_fill_in(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "odd.toml"
    assert tandem_main(["config", "import-rhcs", str(DATA / "odd.conf"), "-o", str(out)]) == 0
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == ("tandem: fill in before use: nodes[0].networks.admin, "
                    "nodes[1].networks.admin, nodes[0].bmc.address, qdisk.device, "
                    "services[0].resources[0].params.address, "
                    "services[0].resources[0].params.interface")
    assert tandem_main(["config", "check", str(out)]) == 1
    assert "nodes[0].networks.admin.interface" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "problem"), [
    (["--address", "ns0"], "--address 'ns0': expected NODE=NETWORK:INTERFACE:ADDRESS/PREFIX"),
    (["--address", "nobody=admin:eth0:198.51.100.9/24"], "--address nobody=...: no such node"),
    (["--resolve", "admin"], "--resolve 'admin': expected NETWORK:INTERFACE/PREFIX"),
])
def test_bad_options_are_one_line_with_status_1_and_write_nothing(
        argv: list[str], problem: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.toml"
    assert tandem_main(["config", "import-rhcs", str(DATA / "mgmt-pair.conf"), "-o", str(out),
                        *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tandem: error: {problem}") and err.count("\n") == 1
    assert not out.exists()


def test_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "cluster.conf"
    assert tandem_main(["config", "import-rhcs", str(missing)]) == 1
    assert capsys.readouterr().err == (f"tandem: error: {missing}: cannot read: No such "
                                       f"file or directory\n")
