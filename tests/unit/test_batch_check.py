"""`tandem batch check`'s findings: each appears, with its file and line, for a
configuration that would break a failover, and none for one that would not.

The cell: ns0 and ns13 (the management pair; the service runs only there) and ns20 (a
third member); the service mounts /shared, holds the address 10.1.0.65 and runs the
controller. Names resolve through HOSTS only, never through this machine's resolver.
The cell's failover estimate: 1 s token + 23 s fencing (ns0's 3 s delay and the BMC's
20 s timeout) + 60 s fs start + 10 s ip start = 94 s.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tandem.config import ClusterConfig, parse_config
from tandem.hpc.batch.check import (
    CheckError,
    Report,
    Target,
    check_lsf,
    check_pbs,
    check_slurm,
    failover_estimate,
    pick_target,
)
from tandem.hpc.batch.lsfconf import HostsFile, Resolver, parse_hosts, parse_lsf_conf
from tandem.hpc.batch.pbsconf import parse_pbs_conf
from tandem.hpc.batch.slurmconf import parse_slurm_conf

HOSTS_TEXT = ("10.1.0.1 ns0\n10.1.0.13 ns13\n10.1.0.20 ns20\n10.1.0.65 ns\n"
              "10.9.9.9 elsewhere\n")
HOSTS = parse_hosts(HOSTS_TEXT, "hosts")
ESTIMATE_S = 94.0

CELL = """
[cluster]
name = "mgmt"
key_file = "/etc/tandem/cluster.key"
[timing]
token_ms = 1000
[networks.admin]
ring = 0
[fence_devices.bmc]
type = "ipmi"
timeout_s = 20
{nodes}
[[services]]
name = "batch"
domain = {{ nodes = ["ns0", "ns13"], restricted = true }}
[[services.resources]]
name = "state"
agent = "fs"
params = {{ device = "/dev/sdb1", mountpoint = "/shared" }}
[[services.resources]]
name = "vip"
agent = "ip"
params = {{ address = "10.1.0.65/16", interface = "eth0" }}
{controller}
"""
NODE = """
[[nodes]]
name = "{name}"
id = {id}
networks.admin = {{ interface = "eth0", address = "10.1.0.{host}/16" }}
bmc = {{ address = "10.2.0.{host}", password_file = "/etc/tandem/bmc.pw" }}
fence = [ {{ devices = ["bmc"]{delay} }} ]
"""
CONTROLLER = """
[[services.resources]]
name = "ctld"
agent = "slurmctld"
params = {{ mode = "{mode}" }}
"""


def cell_text(mode: str | None = "tandem") -> str:
    nodes = "".join(NODE.format(name=name, id=i, host=host, delay=delay)
                    for i, (name, host, delay) in enumerate(
                        (("ns0", 1, ", delay_ms = 3000"), ("ns13", 13, ""), ("ns20", 20, "")),
                        start=1))
    controller = CONTROLLER.format(mode=mode) if mode else ""
    return CELL.format(nodes=nodes, controller=controller)


def cell(mode: str | None = "tandem") -> ClusterConfig:
    return parse_config(cell_text(mode), "cell.toml")


def target(mode: str | None = "tandem") -> Target:
    return pick_target(cell(mode), agent="slurmctld")


def resolver(*first: HostsFile) -> Resolver:
    return Resolver([*first, HOSTS], system=False)


def has(report: Report, severity: str, line: int, text: str) -> bool:
    return any(f.severity == severity and f.line == line and text in f.message
               for f in report.findings)


# -- Slurm ----------------------------------------------------------------------------------------
GOOD_SLURM = ("SlurmctldHost=ns0(10.1.0.1)\nSlurmctldHost=ns13(10.1.0.13)\n"
              "StateSaveLocation=/shared/slurm/state\nSlurmctldTimeout=10\n")
BACKUP_SLURM = GOOD_SLURM.replace("=10\n", "=120\n")  # for Slurm's own backup


def slurm(text: str, mode: str | None = "tandem") -> Report:
    return check_slurm(parse_slurm_conf(text, "slurm.conf"), target(mode), resolver())


def test_a_good_slurm_conf_has_no_finding() -> None:
    report = slurm(GOOD_SLURM)
    assert report.findings == ()
    assert (report.system, report.cell, report.service, report.mode) == \
        ("slurm", "mgmt", "batch", "tandem")
    assert report.failover_estimate_s == ESTIMATE_S


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("SlurmctldHost=ns0\nSlurmctldHost=ns13\nStateSaveLocation=/var/spool/slurm\n", 3,
     "StateSaveLocation /var/spool/slurm is not on a file system that service batch "
     "mounts (/shared)"),
    ("SlurmctldHost=ns0\nSlurmctldHost=ns13\n", 0,
     "StateSaveLocation /var/spool (the default: it is not set) is not on"),
    ("SlurmctldHost=ns0\nSlurmctldHost=ns13\nStateSaveLocation=/sharedx\n", 3, "/sharedx"),
    ("SlurmctldHost=ns0\nSlurmctldHost=ns13\nStateSaveLocation=shared\n", 3,
     "not an absolute path"),
])
def test_a_state_directory_that_does_not_move(text: str, line: int, problem: str) -> None:
    assert has(slurm(text), "error", line, problem)


def test_controller_hosts_against_the_nodes() -> None:
    stranger = slurm("SlurmctldHost=ns0\nSlurmctldHost=bali1(10.1.0.13)\n"
                     "StateSaveLocation=/shared\nSlurmctldTimeout=10\n")
    assert has(stranger, "error", 2, "SlurmctldHost bali1 is not a node of cell mgmt")
    assert has(stranger, "error", 1, "ns13 may run service batch but is not in SlurmctldHost")
    assert len(stranger.findings) == 2  # no resolution finding for the stranger
    assert slurm("SlurmctldHost=ns0.cluster.example\nSlurmctldHost=NS13\n"
                 "StateSaveLocation=/shared\nSlurmctldTimeout=10\n").findings == ()


def test_a_listed_node_outside_the_domain_depends_on_the_mode() -> None:
    text = GOOD_SLURM + "SlurmctldHost=ns20\n"
    assert has(slurm(text, "tandem"), "warning", 5, "ns20 is not in the domain of service batch")
    assert not slurm(text, "tandem").count("error")
    assert has(slurm(text, "slurm"), "error", 5, "state disk never moves there")


@pytest.mark.parametrize(("address", "problem"), [
    ("10.1.0.99", "10.1.0.99 is not 10.1.0.1, 10.1.0.65: requests sent there may not"),
    ("elsewhere", "elsewhere resolves to 10.9.9.9, not 10.1.0.1, 10.1.0.65"),
    ("nowhere", "nowhere does not resolve"),
    ("10.1.0.13", "10.1.0.13 is not"),  # the other node's address
])
def test_a_controller_address_must_be_its_own_or_the_service_address(
        address: str, problem: str) -> None:
    report = slurm(f"SlurmctldHost=ns0({address})\nSlurmctldHost=ns13\n"
                   f"StateSaveLocation=/shared\n")
    assert has(report, "error", 1, f"SlurmctldHost ns0 at {problem}")


def test_slurms_own_backup_against_the_cells_failover() -> None:
    short = slurm(BACKUP_SLURM.replace("=120", "=60"), "slurm")
    assert has(short, "error", 4, f"SlurmctldTimeout=60 is shorter than the cell's failover "
                                  f"(up to {ESTIMATE_S:g} s")
    long = slurm(BACKUP_SLURM, "slurm")
    assert has(long, "warning", 4, "the queue is unavailable for about SlurmctldTimeout=120 s")
    assert not long.count("error")
    default = slurm(BACKUP_SLURM.replace("SlurmctldTimeout=120\n", ""), "slurm")
    assert has(default, "warning", 0, "SlurmctldTimeout=120 s")
    assert not any("SlurmctldTimeout" in f.message for f in slurm(GOOD_SLURM).findings)


def test_tandem_mode_wants_a_short_timeout_and_the_nodes_own_addresses() -> None:
    slow = slurm(BACKUP_SLURM)
    assert has(slow, "warning", 4, "SlurmctldTimeout=120: a client that reaches the backup "
                                   "while it takes over is told to wait and sleeps 60 s")
    assert not slow.count("error")
    moving = slurm(GOOD_SLURM.replace("ns0(10.1.0.1)", "ns0(ns)"))
    assert has(moving, "error", 1, "SlurmctldHost ns0 at ns is the service address "
                                   "10.1.0.65: with several controllers")
    alone = slurm("SlurmctldHost=ns0(ns)\nStateSaveLocation=/shared\nSlurmctldTimeout=300\n")
    assert not any("service address" in f.message or "sleeps" in f.message
                   for f in alone.findings)


def test_slurms_own_backup_with_the_primary_on_the_other_node() -> None:
    text = ("SlurmctldHost=ns13\nSlurmctldHost=ns0\nStateSaveLocation=/shared\n"
            "SlurmctldTimeout=10\n")
    assert has(slurm(text, "slurm"), "warning", 1, "the first SlurmctldHost is ns13 but "
                                                   "service batch prefers ns0")
    assert slurm(text, "tandem").findings == ()


def test_without_a_slurmctld_resource_slurms_own_backup_is_assumed() -> None:
    report = slurm(BACKUP_SLURM.replace("=120", "=60"), None)
    assert report.mode == "slurm"
    assert has(report, "warning", 0, "service batch has no slurmctld resource")
    assert has(report, "error", 4, "SlurmctldTimeout=60 is shorter")


def test_what_the_check_cannot_see_is_said() -> None:
    report = slurm("ControlMachine=ns0\n" + GOOD_SLURM + "Include extra.conf\n")
    assert has(report, "warning", 1, "ControlMachine is ignored by Slurm")
    assert has(report, "warning", 6, "Include extra.conf is not read by this check")
    assert not report.count("error")


def test_the_failover_estimate() -> None:
    estimate = failover_estimate(target())
    assert estimate.seconds == ESTIMATE_S
    assert estimate.detail == ("1 s to declare the node lost + up to 23 s to fence it + up "
                               "to 70 s to start state, vip")
    text = cell_text().replace('mountpoint = "/shared" }',
                               'mountpoint = "/shared" }\ntimeouts = { start = 30 }')
    faster = pick_target(parse_config(text.replace("token_ms = 1000", "token_ms = 3000")))
    assert failover_estimate(faster).seconds == 3 + 23 + 30 + 10


# -- which service -------------------------------------------------------------------------------
def test_which_service_is_checked_against() -> None:
    text = cell_text(None).replace('[[services]]\nname = "batch"', """[[services]]
name = "other"
[[services.resources]]
name = "data"
agent = "fs"
params = { device = "/dev/sdc1", mountpoint = "/data" }
[[services]]
name = "batch\"""")
    config = parse_config(text)
    assert pick_target(config).service.name == "other"  # the first with a file system
    assert pick_target(config, state_dir="/shared/x").service.name == "batch"
    assert pick_target(config, "batch").service.name == "batch"
    with pytest.raises(CheckError, match=r"unknown service 'nope' \(known: other, batch"):
        pick_target(config, "nope")
    assert target("tandem").service.name == "batch"


# -- PBS Professional -----------------------------------------------------------------------------
GOOD_PBS = ("PBS_EXEC=/usr/pbs\nPBS_HOME=/shared/PBS\nPBS_START_SERVER=1\nPBS_START_MOM=0\n"
            "PBS_START_SCHED=1\nPBS_SERVER=ns0\nPBS_PRIMARY=ns0\nPBS_SECONDARY=ns13\n"
            "PBS_SCP=/usr/bin/scp\n")


def pbs(text: str) -> Report:
    return check_pbs(parse_pbs_conf(text, "pbs.conf"), target(None), resolver())


def test_a_good_pbs_conf_has_no_finding() -> None:
    assert pbs(GOOD_PBS).findings == ()
    assert pbs(GOOD_PBS.replace("PBS_SERVER=ns0", "PBS_SERVER=ns")).findings == ()


@pytest.mark.parametrize(("change", "severity", "line", "problem"), [
    (("PBS_HOME=/shared/PBS", "PBS_HOME=/var/spool/PBS"), "error", 2,
     "PBS_HOME /var/spool/PBS is not on a file system"),
    (("PBS_HOME=/shared/PBS\n", ""), "error", 0, "PBS_HOME is not set"),
    (("PBS_SECONDARY=ns13", "PBS_SECONDARY=bali1"), "error", 8,
     "PBS_PRIMARY/PBS_SECONDARY bali1 is not a node of cell mgmt"),
    (("PBS_SECONDARY=ns13", "PBS_SECONDARY=bali1"), "error", 7,
     "ns13 may run service batch but is not in PBS_PRIMARY/PBS_SECONDARY"),
    (("PBS_SECONDARY=ns13", "PBS_SECONDARY=ns20"), "error", 8,
     "ns20 is not in the domain of service batch"),
    (("PBS_SECONDARY=ns13", "PBS_SECONDARY=ns0"), "error", 8, "PBS_SECONDARY is PBS_PRIMARY"),
    (("PBS_PRIMARY=ns0\n", ""), "error", 0, "PBS_PRIMARY and PBS_SECONDARY must both be set"),
    (("PBS_SERVER=ns0\n", ""), "error", 0, "PBS_SERVER is not set"),
    (("PBS_SERVER=ns0", "PBS_SERVER=elsewhere"), "error", 6,
     "PBS_SERVER elsewhere resolves to 10.9.9.9, not 10.1.0.65"),
    (("PBS_SERVER=ns0", "PBS_SERVER=ns13"), "warning", 6, "not PBS_PRIMARY (ns0)"),
])
def test_what_breaks_a_pbs_failover(change: tuple[str, str], severity: str, line: int,
                                    problem: str) -> None:
    assert has(pbs(GOOD_PBS.replace(*change)), severity, line, problem)


def test_a_virtual_pbs_server_needs_a_service_address() -> None:
    no_ip = parse_config(cell_text(None).replace('agent = "ip"', 'agent = "dummy"').replace(
        'params = { address = "10.1.0.65/16", interface = "eth0" }', ""))
    report = check_pbs(parse_pbs_conf(GOOD_PBS.replace("PBS_SERVER=ns0", "PBS_SERVER=ns"),
                                      "pbs.conf"), pick_target(no_ip), resolver())
    assert has(report, "error", 6, "service batch has no ip resource")


# -- LSF -------------------------------------------------------------------------------------------
GOOD_LSF = ('LSF_TOP=/usr/share/lsf\nLSF_ENVDIR=/usr/share/lsf/conf\n'
            'LSB_SHAREDIR=/shared/lsf/work\nLSF_MASTER_LIST="ns0 ns13"\n')
OUR_HOSTS = "# generated\n10.1.0.65 ns\n10.1.0.1 ns0\n10.1.0.13 ns13\n10.1.0.50 c1\n"
MANUAL_HOSTS = "10.1.0.65 ns ns0 ns13\n10.1.0.1 ns ns0\n10.1.0.13 ns ns13\n"


def lsf(text: str, hosts: str | None) -> Report:
    own = parse_hosts(hosts, "hosts") if hosts is not None else None
    return check_lsf(parse_lsf_conf(text, "lsf.conf"), own, target(None),
                     resolver(*([own] if own else [])))


def test_good_lsf_files_have_no_finding() -> None:
    assert lsf(GOOD_LSF, OUR_HOSTS).findings == ()
    # The manual's form: LSF knows one host, the virtual name, whichever node runs it.
    assert lsf(GOOD_LSF.replace('"ns0 ns13"', "ns"), MANUAL_HOSTS).findings == ()


@pytest.mark.parametrize(("conf", "hosts", "where", "severity", "problem"), [
    (("/shared/lsf/work", "/usr/share/lsf/work"), None, ("lsf.conf", 3), "error",
     "LSB_SHAREDIR /usr/share/lsf/work is not on a file system"),
    (("LSB_SHAREDIR=/shared/lsf/work\n", ""), None, ("lsf.conf", 0), "error",
     "LSB_SHAREDIR is not set"),
    (('"ns0 ns13"', '"ns0 bali1"'), None, ("lsf.conf", 4), "error",
     "LSF_MASTER_LIST bali1 is not a node of cell mgmt: nor a name of the service address"),
    (('"ns0 ns13"', "ns0"), None, ("lsf.conf", 4), "error",
     "ns13 may run service batch but is not in LSF_MASTER_LIST"),
    (('"ns0 ns13"', '"ns0 ns13 ns20"'), None, ("lsf.conf", 4), "error",
     "ns20 is not in the domain of service batch"),
    (('LSF_MASTER_LIST="ns0 ns13"\n', ""), None, ("lsf.conf", 0), "warning",
     "LSF_MASTER_LIST is not set"),
    (None, ("10.1.0.1 ns0", "10.9.9.9 ns0"), ("hosts", 3), "error",
     "ns0, a node of cell mgmt, is first listed at 10.9.9.9"),
    (None, ("# generated\n", "# generated\n10.9.9.9 ns\n"), ("hosts", 2), "error",
     "ns, a name of the service address, is first listed at 10.9.9.9"),
    (None, ("10.1.0.65 ns\n", ""), ("hosts", 0), "warning",
     "the service address 10.1.0.65 has no name here"),
])
def test_what_breaks_an_lsf_failover(conf: tuple[str, str] | None,
                                     hosts: tuple[str, str] | None, where: tuple[str, int],
                                     severity: str, problem: str) -> None:
    report = lsf(GOOD_LSF.replace(*conf) if conf else GOOD_LSF,
                 OUR_HOSTS.replace(*hosts) if hosts else OUR_HOSTS)
    matches = [f for f in report.findings if problem in f.message]
    assert [(f.file, f.line, f.severity) for f in matches] == [(*where, severity)]


def test_without_lsfs_hosts_file() -> None:
    report = lsf(GOOD_LSF, None)
    assert [(f.severity, f.line) for f in report.findings] == [("warning", 0)]
    assert "no LSF hosts file" in report.findings[0].message


# -- names -----------------------------------------------------------------------------------------
def test_the_resolver() -> None:
    first = parse_hosts("10.5.5.5 ns0\n", "lsf-hosts")
    assert [str(a) for a in resolver(first).resolve("ns0")] == ["10.5.5.5"]
    assert [str(a) for a in resolver().resolve("NS0")] == ["10.1.0.1"]
    assert [str(a) for a in resolver().resolve("192.0.2.7")] == ["192.0.2.7"]
    assert resolver().resolve("nowhere") == ()  # the files only: no system lookup


def test_the_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, list[tuple[Any, ...]]] = {"ns": [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.0.65", 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.0.65", 0))]}

    def getaddrinfo(name: str, *_: object, **__: object) -> list[tuple[Any, ...]]:
        if name not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[name]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert [str(a) for a in Resolver([]).resolve("ns")] == ["fe80::1", "10.1.0.65"]
    assert Resolver([]).resolve("nowhere") == ()
    assert [str(a) for a in Resolver([HOSTS]).resolve("ns")] == ["10.1.0.65"]


def test_a_finding_as_a_line_and_as_data() -> None:
    report = slurm("SlurmctldHost=ns0\nSlurmctldHost=ns13\nSlurmctldTimeout=10\n")
    finding = report.findings[0]
    assert str(finding).startswith("slurm.conf: error: StateSaveLocation /var/spool")
    data = report.as_dict()
    assert (data["errors"], data["warnings"], data["mode"]) == (1, 0, "tandem")
    assert data["findings"][0]["line"] is None and data["findings"][0]["file"] == "slurm.conf"
    assert str(slurm(GOOD_SLURM.replace("/shared/", "/x/")).findings[0]).startswith(
        "slurm.conf:3: error: ")


def test_findings_come_in_file_and_line_order() -> None:
    report = slurm("SlurmctldHost=ns0(nowhere)\nSlurmctldHost=bali\nControlMachine=x\n"
                   "StateSaveLocation=/x\nSlurmctldTimeout=1\n", "slurm")
    assert [f.line for f in report.findings] == [1, 1, 2, 3, 4, 5]
    both = lsf(GOOD_LSF.replace("/shared/", "/x/"), OUR_HOSTS.replace("10.1.0.1 ", "10.9.9.9 "))
    assert [(f.file, f.line) for f in both.findings] == [("lsf.conf", 3), ("hosts", 3)]


def test_a_virtual_controller() -> None:
    """The slurmctld resource runs the controller as `ctl`: one SlurmctldHost, ctl, at
    the service address."""
    virtual = cell_text().replace('mode = "tandem"', 'mode = "tandem", virtual_host = "ctl"')
    config = parse_config(virtual, "cell.toml")
    aimed = pick_target(config, agent="slurmctld")

    def check(text: str) -> Report:
        return check_slurm(parse_slurm_conf(text, "slurm.conf"), aimed,
                           resolver(parse_hosts("10.1.0.65 ctl\n", "more")))

    good = "SlurmctldHost=ctl(10.1.0.65)\nStateSaveLocation=/shared\nSlurmctldTimeout=120\n"
    assert check(good).findings == ()
    assert check(good.replace("(10.1.0.65)", "")).findings == ()  # the name resolves
    assert has(check(good.replace("10.1.0.65", "10.1.0.1")), "error", 1,
               "SlurmctldHost ctl at 10.1.0.1 is not 10.1.0.65")
    assert has(check(GOOD_SLURM), "error", 1, "SlurmctldHost must be ctl alone (found "
                                               "ns0(10.1.0.1), ns13(10.1.0.13))")
    no_ip = parse_config(virtual.replace('agent = "ip"', 'agent = "dummy"')
                         .replace('params = { address = "10.1.0.65/16", interface = "eth0" }',
                                  ""), "cell.toml")
    report = check_slurm(parse_slurm_conf(good, "slurm.conf"),
                         pick_target(no_ip, agent="slurmctld"), resolver())
    assert has(report, "error", 1, "has no ip resource")
