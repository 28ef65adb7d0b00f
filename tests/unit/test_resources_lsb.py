"""LSB exit codes as OCF codes, and the `script` agent driving real LSB scripts: the
contract, a missing script, and an action that hangs past its timeout (killed with its
whole process group, helpers included)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tandem.lab.wait import wait_for
from tandem.resources.base import OcfCode, ResourceAgent, timed
from tandem.resources.proctab import ProcRef, is_running, proc_stat
from tandem.resources.registry import get_agent
from tandem.resources.script import lsb_to_ocf


@pytest.mark.parametrize(("action", "lsb", "ocf"), [
    ("status", 0, OcfCode.SUCCESS), ("status", 3, OcfCode.NOT_RUNNING),
    ("status", 1, OcfCode.ERR_GENERIC), ("status", 2, OcfCode.ERR_GENERIC),
    ("status", 4, OcfCode.ERR_GENERIC), ("status", 7, OcfCode.ERR_GENERIC),
    ("status", 150, OcfCode.ERR_GENERIC), ("monitor", 3, OcfCode.NOT_RUNNING),
    ("start", 0, OcfCode.SUCCESS), ("start", 1, OcfCode.ERR_GENERIC),
    ("start", 2, OcfCode.ERR_ARGS), ("start", 3, OcfCode.ERR_UNIMPLEMENTED),
    ("start", 4, OcfCode.ERR_PERM), ("start", 5, OcfCode.ERR_INSTALLED),
    ("start", 6, OcfCode.ERR_CONFIGURED), ("start", 7, OcfCode.ERR_GENERIC),
    ("start", 127, OcfCode.ERR_GENERIC), ("stop", 0, OcfCode.SUCCESS),
    ("stop", 7, OcfCode.SUCCESS), ("stop", 1, OcfCode.ERR_GENERIC),
])
def test_lsb_to_ocf(action: str, lsb: int, ocf: OcfCode) -> None:
    assert lsb_to_ocf(action, lsb) == ocf


# A well-behaved init script whose state is a file; `start` hangs (after starting a
# helper in the background) while the file HANG exists next to it.
LSB = """#!/bin/sh
DIR=$(dirname "$0")
case "$1" in
  start)
    if [ -e "$DIR/hang" ]; then
      sleep 600 & echo $! > "$DIR/helper.pid"
      echo $$ > "$DIR/script.pid"
      sleep 600
    fi
    touch "$DIR/running" ;;
  stop) [ -e "$DIR/running" ] || exit 7; rm -f "$DIR/running" ;;
  status) [ -e "$DIR/pidfile-left" ] && exit 1; [ -e "$DIR/running" ] && exit 0; exit 3 ;;
  *) exit 3 ;;
esac
"""


@pytest.fixture()
def script(tmp_path: Path) -> Path:
    path = tmp_path / "initscript"
    path.write_text(LSB)
    path.chmod(0o755)
    return path


def run(agent: ResourceAgent, action: str, timeout: float | None = None) -> tuple[int, str]:
    result = asyncio.run(timed(action, agent, timeout))
    return int(result.code), result.message


def test_contract_with_a_real_script(script: Path) -> None:
    agent = get_agent("script").create("svc", {"path": str(script)})
    assert run(agent, "status") == (7, "not running")
    assert run(agent, "start")[0] == 0
    assert run(agent, "start")[0] == 0
    assert run(agent, "status")[0] == 0
    assert run(agent, "stop")[0] == 0
    assert run(agent, "stop")[0] == 0  # the script says 7 ("not running"): a done stop
    assert run(agent, "status")[0] == 7
    (script.parent / "pidfile-left").touch()
    assert run(agent, "status") == (1, "dead, but its pid file exists")


def test_missing_script_cannot_be_running(tmp_path: Path) -> None:
    agent = get_agent("script").create("svc", {"path": str(tmp_path / "absent")})
    assert run(agent, "status")[0] == 7
    assert run(agent, "stop")[0] == 0
    code, message = run(agent, "start")
    assert code == 5 and "missing" in message


def test_hung_action_is_killed_with_its_process_group(script: Path) -> None:
    (script.parent / "hang").touch()
    agent = get_agent("script").create("svc", {"path": str(script)})
    code, message = run(agent, "start", timeout=1.0)
    assert code == 1 and "timed out after 1 s" in message
    refs = []
    for name in ("script.pid", "helper.pid"):
        pid = int((script.parent / name).read_text())
        stat = proc_stat(pid)
        refs.append(ProcRef(pid, stat.start) if stat else None)
    # Both the script and the helper it left in the background are gone (SIGKILL is
    # delivered at once, but a loaded machine may take a moment to tear a process down).
    wait_for(lambda: not any(ref and is_running(ref) for ref in refs), 5.0,
             "the script and its helper to be gone", interval=0.02)
    assert not (script.parent / "running").exists()
