"""The readers of the batch systems' files: slurm.conf, pbs.conf, lsf.conf and hosts
files. What a failover depends on is read with its line; a malformed line is an error
that names the file and the line."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from tandem.common.errors import EXIT_FAILED, TandemError
from tandem.hpc.batch import BatchConfError, read_assignments
from tandem.hpc.batch.lsfconf import parse_hosts, parse_lsf_conf, read_lsf_conf
from tandem.hpc.batch.pbsconf import parse_pbs_conf
from tandem.hpc.batch.slurmconf import parse_slurm_conf, read_slurm_conf

SLURM = """\
# The management pair's controller
ClusterName=hpc
SlurmctldHost=ns0(10.1.0.1)   # primary
slurmctldhost=ns13(10.1.0.13)
StateSaveLocation=/shared/slurm/state
slurmctldTIMEOUT = 30
SlurmUser=slurm SlurmctldPort=6817-6818
NodeName=DEFAULT CPUs=2 State=UNKNOWN
NodeName=c[1-4] NodeAddr=ec[1-4] Features="big,fast"
PartitionName=batch Nodes=c[1-4] Default=YES
include /etc/slurm/cgroup-extra.conf
"""


# -- slurm.conf ---------------------------------------------------------------------------------
def test_slurm_conf_what_a_failover_depends_on() -> None:
    conf = parse_slurm_conf(SLURM, "slurm.conf")
    assert [(c.name, c.address, c.line) for c in conf.controllers] == [
        ("ns0", "10.1.0.1", 3), ("ns13", "10.1.0.13", 4)]
    assert (conf.state_save_location.value, conf.state_save_location.line) == \
        ("/shared/slurm/state", 5)
    assert (conf.slurmctld_timeout_s, conf.slurmctld_timeout.line) == (30, 6)
    assert (conf.slurm_user, conf.slurmctld_port) == ("slurm", "6817-6818")
    assert [(i.value, i.line) for i in conf.includes] == [("/etc/slurm/cgroup-extra.conf", 11)]
    assert conf.get("nodename") is None and conf.get("features") is None  # records: not read
    assert conf.ignored == ()


def test_slurm_conf_defaults() -> None:
    conf = parse_slurm_conf("SlurmctldHost=ctl\n")
    assert (conf.state_save_location.value, conf.state_save_location.line) == ("/var/spool", 0)
    assert (conf.slurmctld_timeout_s, conf.slurmctld_timeout.line) == (120, 0)
    assert (conf.slurm_user, conf.slurmctld_port) == ("root", None)
    assert [(c.name, c.address) for c in conf.controllers] == [("ctl", None)]


def test_slurm_conf_continued_lines_and_escaped_hash() -> None:
    conf = parse_slurm_conf("SlurmctldHost=a \\\n  StateSaveLocation=/s\\#1 # comment\n"
                            "SlurmctldTimeout=9\n")
    assert conf.state_save_location == conf.get("statesavelocation")
    assert (conf.state_save_location.value, conf.state_save_location.line) == ("/s#1", 1)
    assert conf.slurmctld_timeout.line == 3


def test_the_manuals_legacy_keys() -> None:
    text = ("ControlMachine=ns0\nControlAddr=10.1.0.1\nBackupController=bali1\n"
            "BackupAddr=10.1.0.13\nStateSaveLocation=/ocfs2shared/slurmdata\n")
    conf = parse_slurm_conf(text)
    assert [(c.name, c.address, c.line) for c in conf.controllers] == [
        ("ns0", "10.1.0.1", 1), ("bali1", "10.1.0.13", 3)]


def test_legacy_keys_beside_slurmctldhost_are_ignored_as_slurm_does() -> None:
    conf = parse_slurm_conf("ControlMachine=old\nSlurmctldHost=new\n")
    assert [c.name for c in conf.controllers] == ["new"]
    assert [(s.key, s.line) for s in conf.ignored] == [("ControlMachine", 1)]


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("SlurmctldHost=a\nthis is not a pair\n", 2, "expected Key=Value"),
    ("SlurmctldHost=a\nSlurmctldTimeout=2min\n", 2, "SlurmctldTimeout=2min"),
    ("SlurmctldHost=a\nSlurmctldTimeout=70000\n", 2, "up to 65533"),
    ("SlurmctldHost=a\nSlurmctldHost=b(1.2.3.4\n", 2, "expected NAME or NAME(ADDRESS)"),
    ("SlurmctldHost=a\n\nSlurmctldHost=a(10.0.0.1)\n", 3, "a is already a controller"),
    ("ControlMachine=a\nBackupAddr=10.0.0.2\n", 2, "without the host"),
    ("BackupController=b\n", 1, "without ControlMachine"),
    ("SlurmctldHost=a\nAuthType=\"auth/munge\"x\n", 2, "expected a space"),
])
def test_a_malformed_slurm_conf_names_the_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(BatchConfError, match=re.escape(problem)) as raised:
        parse_slurm_conf(text, "/etc/slurm/slurm.conf")
    assert str(raised.value).startswith(f"/etc/slurm/slurm.conf:{line}: ")


def test_no_controller_at_all() -> None:
    with pytest.raises(BatchConfError, match=r"^slurm.conf: no SlurmctldHost"):
        parse_slurm_conf("ClusterName=x\n")


def test_reading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "slurm.conf"
    path.write_text(SLURM)
    assert read_slurm_conf(path).path == str(path)
    with pytest.raises(BatchConfError, match=r"/absent.conf: cannot read"):
        read_slurm_conf(tmp_path / "absent.conf")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(BatchConfError, match="not a text file"):
        read_slurm_conf(path)


def test_the_error_is_a_tandem_error_with_status_1() -> None:
    assert issubclass(BatchConfError, TandemError)
    assert BatchConfError.exit_code == EXIT_FAILED


# -- shell-style files: pbs.conf, lsf.conf -------------------------------------------------------
def test_assignments() -> None:
    found = read_assignments("# c\n\nA=1\nB='two words'  # why\nC=\"x\"\nA=3\nD=\n", "f")
    assert {k: (s.value, s.line) for k, s in found.items()} == {
        "A": ("3", 6), "B": ("two words", 4), "C": ("x", 5), "D": ("", 7)}


@pytest.mark.parametrize(("text", "problem"), [
    ("A=1\nexport B=2\n", "expected KEY=VALUE"),
    ("A=1\nB=two words\n", "must be quoted"),
    ("A=1\nB=\"open\n", "not closed"),
])
def test_a_malformed_assignment_names_the_line(text: str, problem: str) -> None:
    with pytest.raises(BatchConfError, match=f"^pbs.conf:2: .*{problem}"):
        read_assignments(text, "pbs.conf")


def test_pbs_conf_start_flags_and_role() -> None:
    conf = parse_pbs_conf("PBS_START_SERVER=0\nPBS_START_MOM=1\nPBS_START_SCHED=0\n"
                          "PBS_HOME=/var/spool/PBS\n")
    assert conf.starts == (0, 1, 0) and conf.role == "compute"
    assert conf.value("PBS_HOME") == "/var/spool/PBS" and conf.value("PBS_SERVER") is None
    assert parse_pbs_conf("PBS_START_SERVER=1\nPBS_START_MOM=1\n").role is None
    with pytest.raises(BatchConfError, match=r"^pbs.conf:2: PBS_START_MOM=yes: expected 0 or 1"):
        parse_pbs_conf("PBS_START_SERVER=1\nPBS_START_MOM=yes\n")


def test_lsf_conf(tmp_path: Path) -> None:
    text = ('LSF_TOP=/usr/share/lsf\nLSF_ENVDIR="/usr/share/lsf/conf"\n'
            'LSB_SHAREDIR=/usr/share/lsf/work\nLSF_MASTER_LIST="ns0  ns13"\n'
            'LSF_SERVER_HOSTS="ns"\n')
    conf = parse_lsf_conf(text)
    assert conf.master_list == ("ns0", "ns13") and conf.server_hosts == ("ns",)
    assert conf.sharedir is not None and (conf.sharedir.value, conf.sharedir.line) == \
        ("/usr/share/lsf/work", 3)
    assert conf.envdir is not None and conf.envdir.value == "/usr/share/lsf/conf"
    assert conf.top is not None and conf.top.value == "/usr/share/lsf"
    (tmp_path / "lsf.conf").write_text(text)
    assert read_lsf_conf(tmp_path / "lsf.conf").settings == conf.settings


# -- hosts files -----------------------------------------------------------------------------------
def test_hosts_file_the_manuals_example() -> None:
    hosts = parse_hosts("# LSF\n10.1.0.65 ns ns0 ns13\n10.1.0.1 ns ns0\n10.1.0.13 ns ns13\n"
                        "::1 localhost # v6\n")
    first = hosts.lookup("NS0")
    assert first is not None and (str(first.address), first.line) == ("10.1.0.65", 2)
    assert [h.line for h in hosts.naming("ns13")] == [2, 4]
    assert hosts.lookup("absent") is None
    own = hosts.names_of(ipaddress.ip_address("10.1.0.1"))
    assert own is not None and own.names == ("ns", "ns0")
    assert hosts.lookup("localhost") is not None


@pytest.mark.parametrize(("text", "problem"), [
    ("10.0.0.1 a\nns0 10.0.0.2\n", "'ns0' is not an IP address"),
    ("10.0.0.1 a\n10.0.0.2\n", "10.0.0.2 has no host name"),
])
def test_a_malformed_hosts_line(text: str, problem: str) -> None:
    with pytest.raises(BatchConfError, match=f"^hosts:2: {problem}"):
        parse_hosts(text, "hosts")
