"""The `slurmctld` agent's checks, without Slurm: the state directory, munge, this node's
place among the controllers, `scontrol ping` output, and the `slurm` mode's life cycle.
(The controller itself runs in tests/lab/test_batch_slurm.py.)"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.config import load_config
from tandem.hpc.batch import slurmctld
from tandem.hpc.batch.check import check_slurm, pick_target
from tandem.hpc.batch.lsfconf import Resolver, read_hosts
from tandem.hpc.batch.slurmconf import parse_slurm_conf, read_slurm_conf
from tandem.hpc.batch.slurmhost import (
    controller_index,
    munge_problem,
    ping_states,
    state_dir_problem,
)
from tandem.lab import slurm
from tandem.resources.base import OcfCode, ParamError
from tandem.resources.registry import get_agent


@pytest.fixture
def off_root() -> Iterator[Path]:
    """A directory on a file system other than / (tmpfs), as a mounted state disk is."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as directory:
        path = Path(directory)
        assert path.stat().st_dev != Path("/").stat().st_dev
        yield path


def test_state_dir_must_exist(tmp_path: Path) -> None:
    problem = state_dir_problem(str(tmp_path / "state"), "root")
    assert problem is not None and "is not a directory here" in problem


def test_state_dir_on_the_root_file_system_is_refused(tmp_path: Path) -> None:
    if tmp_path.stat().st_dev != Path("/").stat().st_dev:
        pytest.skip("the temporary directory is not on the root file system here")
    problem = state_dir_problem(str(tmp_path), "root")
    assert problem is not None and "on the root file system" in problem


def test_state_dir_under_an_unmounted_mount_point_is_refused(off_root: Path) -> None:
    (off_root / "state").mkdir()
    problem = state_dir_problem(str(off_root / "state"), "root", mountpoint=str(off_root))
    assert problem is not None and f"{off_root} is not mounted" in problem
    problem = state_dir_problem(str(off_root / "state"), "root", mountpoint="/proc")
    assert problem is not None and "is not under the state disk's mount point" in problem


def test_state_dir_must_belong_to_slurm_user(off_root: Path) -> None:
    problem = state_dir_problem(str(off_root), "nobody", mountpoint="/dev/shm")
    assert problem is not None and "not to SlurmUser nobody" in problem
    assert "chown -R nobody" in problem
    os.chown(off_root, 65534, 65534)
    assert state_dir_problem(str(off_root), "nobody", mountpoint="/dev/shm") is None
    problem = state_dir_problem(str(off_root), "no-such-user-here")
    assert problem is not None and "SlurmUser no-such-user-here does not exist" in problem
    off_root.chmod(0o500)
    problem = state_dir_problem(str(off_root), "nobody")
    assert problem is not None and "not writable" in problem


def fake_tool(directory: Path, name: str, script: str) -> str:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_munge_problem_names_what_failed(tmp_path: Path) -> None:
    good_munge = fake_tool(tmp_path, "munge", "echo MUNGE:cred")
    reads = fake_tool(tmp_path, "unmunge", 'read cred; [ "$cred" = MUNGE:cred ]')
    refuses = fake_tool(tmp_path, "unmunge-bad", "echo 'Invalid credential' >&2; exit 1")
    no_daemon = fake_tool(tmp_path, "munge-bad", "echo 'Failed to access socket' >&2; exit 1")
    assert asyncio.run(munge_problem(good_munge, reads)) is None
    problem = asyncio.run(munge_problem(good_munge, refuses))
    assert problem is not None and "unmunge refused" in problem and "Invalid" in problem
    problem = asyncio.run(munge_problem(no_daemon, reads))
    assert problem is not None and "is munged running" in problem
    problem = asyncio.run(munge_problem(str(tmp_path / "missing"), reads))
    assert problem is not None and "munge check failed" in problem


def test_controller_index_takes_short_and_long_names() -> None:
    conf = parse_slurm_conf("SlurmctldHost=ns0(10.1.0.1)\nSlurmctldHost=ns13.lab(10.1.0.13)\n")
    assert controller_index(conf, "ns0") == 0
    assert controller_index(conf, "ns13") == 1
    assert controller_index(conf, "other") is None


def test_ping_states() -> None:
    text = ("Slurmctld(primary) at node1 is DOWN\nSlurmctld(backup) at node2 is UP\n"
            "Slurmctld(backup2) at node3 is UP\n")
    assert ping_states(text) == {"node1": "DOWN", "node2": "UP", "node3": "UP"}
    assert ping_states("slurm_ping error") == {}


def agent(conf: Path, **params: object) -> slurmctld.SlurmctldAgent:
    made = get_agent("slurmctld").create("ctld", {"conf": str(conf), **params})
    assert isinstance(made, slurmctld.SlurmctldAgent)
    return made


def test_params_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ParamError, match="mode: expected one of tandem, slurm"):
        agent(tmp_path / "slurm.conf", mode="backup")
    with pytest.raises(ParamError, match="mountpoint: must be an absolute path"):
        agent(tmp_path / "slurm.conf", mountpoint="srv")


def test_start_refuses_a_node_that_is_not_a_controller(tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("SlurmctldHost=elsewhere1\nSlurmctldHost=elsewhere2\n")
    result = asyncio.run(agent(conf).start())
    assert result.code == OcfCode.ERR_CONFIGURED
    assert f"this node ({socket.gethostname().split('.')[0]}) is not a SlurmctldHost" \
        in result.message and "elsewhere1, elsewhere2" in result.message
    conf.write_text("SlurmctldHost=a\nSlurmctldHost=a\n")
    result = asyncio.run(agent(conf).start())
    assert result.code == OcfCode.ERR_CONFIGURED and f"{conf}:2" in result.message


def test_slurm_mode_checks_the_disk_and_starts_nothing(
        tmp_path: Path, off_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurmctld, "STATE_DIR", str(tmp_path / "run"))
    conf = tmp_path / "slurm.conf"
    host = socket.gethostname().split(".")[0]
    conf.write_text(f"SlurmctldHost={host}\nSlurmctldHost=peer\nSlurmUser=root\n"
                    f"StateSaveLocation={tmp_path}/state\n")
    ctld = agent(conf, mode="slurm", check_munge=False, slurmctld="/nonexistent")
    result = asyncio.run(ctld.start())
    assert result.code == OcfCode.ERR_GENERIC and "is not a directory here" in result.message
    assert asyncio.run(ctld.status()).code == OcfCode.NOT_RUNNING

    conf.write_text(conf.read_text().replace(f"{tmp_path}/state", str(off_root)))
    assert asyncio.run(ctld.start()).ok
    assert asyncio.run(ctld.status()).ok
    assert asyncio.run(ctld.stop()).ok
    assert asyncio.run(ctld.status()).code == OcfCode.NOT_RUNNING


EXAMPLE = Path(__file__).parents[2] / "examples" / "slurm"


def test_the_example_is_what_the_lab_runs_and_passes_the_check() -> None:
    """examples/slurm is the README's cell: its slurm.conf and hosts are those the lab
    test and the benchmark write, and `tandem batch check` finds nothing in them."""
    controllers = [("node1", "198.51.100.11"), ("node2", "198.51.100.12")]
    compute = "198.51.100.250"
    assert (EXAMPLE / "slurm.conf").read_text() == slurm.slurm_conf(controllers, compute,
                                                                      timeout_s=10)
    assert (EXAMPLE / "hosts").read_text() == slurm.hosts_file(
        [*controllers, (slurm.COMPUTE, compute)])
    config = load_config(str(EXAMPLE / "cell.toml"))
    report = check_slurm(read_slurm_conf(EXAMPLE / "slurm.conf"),
                         pick_target(config, agent="slurmctld"),
                         Resolver([read_hosts(EXAMPLE / "hosts")], system=False))
    assert report.findings == () and report.mode == "tandem"


def test_a_virtual_host_is_for_mode_tandem_and_must_be_the_only_controller(
        tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    with pytest.raises(ParamError, match="virtual_host: only for mode tandem"):
        agent(conf, mode="slurm", virtual_host="slurmctl")
    with pytest.raises(ParamError, match="virtual_host: not a host name"):
        agent(conf, virtual_host="slurm ctl")
    conf.write_text("SlurmctldHost=slurmctl(10.1.0.65)\nSlurmctldHost=ns13\n")
    result = asyncio.run(agent(conf, virtual_host="slurmctl").start())
    assert result.code == OcfCode.ERR_CONFIGURED
    assert "SlurmctldHost must list only slurmctl" in result.message
    conf.write_text("SlurmctldHost=ns0\n")
    result = asyncio.run(agent(conf, virtual_host="slurmctl").start())
    assert result.code == OcfCode.ERR_CONFIGURED
    assert "this node (slurmctl) is not a SlurmctldHost" in result.message


def test_a_virtual_controller_runs_under_its_name_in_its_own_uts_namespace(
        tmp_path: Path) -> None:
    argv = agent(tmp_path / "slurm.conf", virtual_host="slurmctl",
                 slurmctld="/usr/sbin/slurmctld")._daemon().values["command"]
    assert argv[:3] == ["unshare", "--uts", "--"]
    # what the shell does with it: set the name, then become slurmctld (same pid)
    shown = subprocess.run([*argv[3:5], argv[5].replace("hostname", "echo").replace(
        "exec", "echo"), *argv[6:]], capture_output=True, text=True, check=True).stdout
    assert shown.split("\n")[:2] == ["slurmctl", f"/usr/sbin/slurmctld -D -f "
                                                 f"{tmp_path / 'slurm.conf'}"]
