"""The `lustre_target` agent without Lustre: its parameters and effective start timeout,
the recovery_status parser on lctl output as Lustre 2.12-2.15 prints it, and the
agent's real command lines (`mount -t lustre ...`, `lctl get_param ...`).

This machine has no Lustre, so `mount` and `lctl` are a recording fake that stands in
for `run_command` where the agent and the `fs` agent under it run their commands; the
MMP helper still runs for real, on an ext4 image made with `mkfs.ext4 -O mmp` that
stands for the device (a regular file: the fs agent matches it by name). The mounts,
MMP waits and health checks themselves are tested for real in
tests/lab/test_lustre_target_lab.py."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tandem.hpc.lustre import mmp, target
from tandem.hpc.lustre.recovery import (
    parse_recovery_status,
    recovery_param,
    recovery_summary,
    target_kind,
)
from tandem.hpc.lustre.target import LustreTargetAgent
from tandem.resources import fs
from tandem.resources.base import OcfCode, ParamError
from tandem.resources.registry import get_agent
from tandem.util.procrun import CommandResult, CommandTimeout, run_command

RECOVERING = """\
status: RECOVERING
recovery_start: 1700000000
time_remaining: 120
connected_clients: 3/10
req_replay_clients: 1
lock_repay_clients: 1
completed_clients: 2
evicted_clients: 0
replayed_requests: 14
queued_requests: 0
next_transno: 21474836482
"""
COMPLETE = """\
status: COMPLETE
recovery_start: 1700000000
recovery_duration: 35
completed_clients: 9/10
replayed_requests: 14
last_transno: 21474836481
VBR: DISABLED
IR: ENABLED
"""


# -- parameters and timeouts -------------------------------------------------------------
def bind(**given: Any) -> LustreTargetAgent:
    base = {"device": "/dev/mapper/ost0", "mountpoint": "/lustre/fs1/ost0",
            "target": "fs1-OST0000"}
    agent = get_agent("lustre_target").create("ost0", {**base, **given})
    assert isinstance(agent, LustreTargetAgent)
    return agent


def test_parameters_and_defaults() -> None:
    agent = bind()
    assert agent.values == {"device": "/dev/mapper/ost0", "mountpoint": "/lustre/fs1/ost0",
                            "target": "fs1-OST0000", "fstype": "lustre", "options": "",
                            "mmp_wait_s": 0.0}
    assert agent.devices() == ("/dev/mapper/ost0",)
    assert bind(target="fs1-MDT0000").values["target"] == "fs1-MDT0000"
    assert bind(target="MGS").values["target"] == "MGS"


@pytest.mark.parametrize(("given", "message"), [
    ({"target": "ost0"}, "target: 'ost0' is not a Lustre target name"),
    ({"target": "averylongname-OST0000"}, "is not a Lustre target name"),
    ({"mmp_wait_s": -1.0}, "mmp_wait_s: must not be negative"),
    ({"options": "a, b"}, "options: must not contain white space"),
    ({"mountpoint": "relative"}, "mountpoint: must be an absolute directory"),
])
def test_bad_parameters(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        bind(**given)


def test_effective_start_timeout_covers_the_mmp_wait() -> None:
    assert target.DEFAULT_MMP_WAIT_S == mmp.mount_wait_s(5) == 22
    assert bind().timeouts.start == 60 + 22
    agent = bind(mmp_wait_s=122.0)
    assert agent.timeouts.start == 60 + 122
    assert agent.timeouts.stop == LustreTargetAgent.timeouts.stop
    assert LustreTargetAgent.timeouts.start == 82  # what `tandem agent info` shows


# -- recovery status ---------------------------------------------------------------------
def test_recovery_parameters_and_target_kinds() -> None:
    assert recovery_param("fs1-OST000a") == "obdfilter.fs1-OST000a.recovery_status"
    assert recovery_param("scratch-MDT0001") == "mdt.scratch-MDT0001.recovery_status"
    assert recovery_param("MGS") is None
    assert [target_kind(n) for n in ("fs1-OST0000", "fs1-MDT0000", "MGS")] == \
        ["OST", "MDT", "MGS"]


def test_parse_recovering() -> None:
    status = parse_recovery_status(RECOVERING)
    assert (status.status, status.connected, status.expected, status.completed,
            status.evicted, status.time_remaining_s, status.recovery_start) == \
        ("RECOVERING", 3, 10, 2, 0, 120, 1700000000)
    assert status.in_progress and status.values["next_transno"] == "21474836482"
    assert recovery_summary(status) == ("RECOVERING: 3/10 clients connected, 2 done, "
                                        "120 s left")


def test_parse_complete_inactive_and_waiting() -> None:
    done = parse_recovery_status(COMPLETE)
    assert (done.status, done.completed, done.expected, done.duration_s) == \
        ("COMPLETE", 9, 10, 35)
    assert not done.in_progress
    assert recovery_summary(done) == "COMPLETE: 9/10 clients recovered, took 35 s"
    assert recovery_summary(parse_recovery_status("status: INACTIVE\n")) == "INACTIVE"
    waiting = parse_recovery_status("status: WAITING\nnon-ready MDTs:  0001\n"
                                    "recovery_start: 1700000000\ntime_waited: 12\n")
    assert waiting.in_progress
    assert recovery_summary(waiting) == "WAITING: waiting for MDTs 0001"
    assert parse_recovery_status("").status == "UNKNOWN"
    assert parse_recovery_status("status: WAITING_FOR_CLIENTS\n").in_progress


# -- command lines, through a recording fake ----------------------------------------------
class Recorder:
    """Stands in for run_command: records each command and answers it from `answers`
    (by program name: a result, or an exception to raise); the MMP helper, which only
    reads a file, runs for real."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.answers: dict[str, CommandResult | Exception] = {}

    async def __call__(self, argv: Sequence[str], *, timeout_s: float,
                       **_: Any) -> CommandResult:
        if argv[0] == sys.executable:
            return await run_command(argv, timeout_s=timeout_s)
        self.calls.append(list(argv))
        answer = self.answers.get(argv[0])
        if answer is None:
            raise AssertionError(f"unexpected command {list(argv)}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def said(stdout: str, code: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult(code, stdout, stderr, 0.0)


@pytest.fixture()
def commands(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(target, "run_command", recorder)
    monkeypatch.setattr(fs, "run_command", recorder)
    return recorder


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "ost0.img"
    subprocess.run(["truncate", "-s", "16M", str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "mmp", "-E", "mmp_update_interval=1",
                    "-L", "fs1-OST0000", str(path)], check=True, capture_output=True)
    return path


def leave_mmp(image: Path, seq: int, node: str = "oss2", check: int = 5) -> None:
    """Write the MMP block as a holder that stopped (power loss) or runs elsewhere
    leaves it, with a valid checksum."""
    sb = mmp.read_superblock(str(image))
    at = sb.mmp_block * sb.block_size
    with open(image, "r+b") as disk:
        disk.seek(at)
        raw = bytearray(disk.read(1024))
        mmp.MMP_HEAD.pack_into(raw, 0, mmp.MMP_MAGIC, seq, int(time.time()) - 3,
                               node.encode(), b"dm-4", check)
        assert sb.csum_seed is not None
        struct.pack_into("<I", raw, mmp.MMP_CHECKSUM_AT,
                         mmp.crc32c(bytes(raw[:mmp.MMP_CHECKSUM_AT]), sb.csum_seed))
        disk.seek(at)
        disk.write(raw)


def on_image(image: Path, tmp_path: Path, **given: Any) -> LustreTargetAgent:
    return bind(device=str(image), mountpoint=str(tmp_path / "lustre/fs1/ost0"), **given)


def test_start_mounts_with_the_lustre_type(commands: Recorder, image: Path,
                                           tmp_path: Path) -> None:
    commands.answers["mount"] = said("")
    agent = on_image(image, tmp_path, options="abort_recov")
    result = asyncio.run(agent.start())
    assert result.ok, result.message
    where = str(tmp_path / "lustre/fs1/ost0")
    assert commands.calls == [["mount", "-t", "lustre", "-o", "abort_recov", str(image), where]]
    assert Path(where).is_dir()  # created for the mount


def test_start_refuses_a_device_being_checked(commands: Recorder, image: Path,
                                              tmp_path: Path) -> None:
    leave_mmp(image, mmp.SEQ_FSCK, node="io2")
    result = asyncio.run(on_image(image, tmp_path).start())
    assert result.code == OcfCode.ERR_GENERIC
    assert "is being checked (last written by io2" in result.message
    assert commands.calls == []  # nothing mounted


def test_start_refuses_an_mmp_wait_longer_than_its_timeout(commands: Recorder, image: Path,
                                                            tmp_path: Path) -> None:
    leave_mmp(image, 41, check=30)  # a holder with slow writes: the kernel waits 2 x 61 s
    result = asyncio.run(on_image(image, tmp_path).start())
    assert result.code == OcfCode.ERR_CONFIGURED
    assert "may wait up to 122 s, more than the 22 s this resource allows: " \
           "set mmp_wait_s = 122" in result.message
    assert commands.calls == []
    commands.answers["mount"] = said("")
    agent = on_image(image, tmp_path, mmp_wait_s=122.0)
    assert asyncio.run(agent.start()).ok
    assert commands.calls[0][:3] == ["mount", "-t", "lustre"]


def test_a_refused_mount_names_the_mmp_holder(commands: Recorder, image: Path,
                                              tmp_path: Path) -> None:
    leave_mmp(image, 41, node="io2")
    commands.answers["mount"] = said("", 32, f"mount: {tmp_path}: {image} already mounted "
                                             f"or mount point busy.")
    result = asyncio.run(on_image(image, tmp_path).start())
    assert not result.ok
    assert "already mounted or mount point busy." in result.message
    assert "(MMP: last written by io2 through dm-4" in result.message


@pytest.mark.parametrize(("answer", "ok", "quoted"), [
    (said("healthy\n"), True, "healthy"),
    (said("NOT HEALTHY\n"), False, "Lustre health_check says 'NOT HEALTHY' (fs1-OST0000"),
    (said("device fs1-OST0000 reported unhealthy\nNOT HEALTHY\n"), False,
     "'device fs1-OST0000 reported unhealthy | NOT HEALTHY'"),
    (said("LBUG\n"), False, "says 'LBUG'"),
    (said("", 2, "error: get_param: param_path 'health_check': No such file or directory"),
     False, "health_check failed: error: get_param"),
    (CommandTimeout("lctl did not finish"), False, "did not answer within 5 s"),
])
def test_health_asks_lctl(commands: Recorder, answer: CommandResult | Exception, ok: bool,
                          quoted: str) -> None:
    commands.answers["lctl"] = answer
    result = asyncio.run(bind().health())
    assert commands.calls == [["lctl", "get_param", "-n", "health_check"]]
    assert result.ok is ok and quoted in result.message, result.message


def test_a_hanging_lctl_is_a_failure_not_a_hang(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """A real `lctl` that hangs (a script that sleeps): the health check's own deadline
    kills it and answers well within the monitor timeout."""
    fake = tmp_path / "lctl"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(target, "LCTL", str(fake))
    monkeypatch.setattr(target, "HEALTH_TIMEOUT_S", 0.3)
    started = time.monotonic()
    result = asyncio.run(bind().health())
    assert time.monotonic() - started < LustreTargetAgent.timeouts.monitor
    assert not result.ok and "did not answer within 0.3 s" in result.message


def test_recovery_reads_the_targets_own_parameter(commands: Recorder) -> None:
    commands.answers["lctl"] = said(RECOVERING)
    status = asyncio.run(bind().recovery())
    assert status is not None and status.connected == 3
    status = asyncio.run(bind(target="fs1-MDT0000").recovery())
    assert commands.calls == [
        ["lctl", "get_param", "-n", "obdfilter.fs1-OST0000.recovery_status"],
        ["lctl", "get_param", "-n", "mdt.fs1-MDT0000.recovery_status"]]
    assert asyncio.run(bind(target="MGS").recovery()) is None
    assert len(commands.calls) == 2
