"""Real-time footing: run in a child process so the test runner itself stays ordinary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tandem.membership import set_fifo
from tandem.membership.rt import Outcome

CHILD = """
import json, os, sys
from tandem.membership import try_realtime
report = try_realtime(priority=int(sys.argv[1]))
policy = os.sched_getscheduler(0)
with open("/proc/self/status") as f:
    locked = [l.split()[1] for l in f if l.startswith("VmLck:")][0]
child = os.fork()
if child == 0:
    os._exit(os.sched_getscheduler(0))
_, status = os.waitpid(child, 0)
print(json.dumps({
    "sched_ok": report.scheduler.ok, "sched": report.scheduler.detail,
    "mem_ok": report.memory.ok, "mem": report.memory.detail,
    "fifo": policy & ~getattr(os, "SCHED_RESET_ON_FORK", 0) == os.SCHED_FIFO,
    "priority": os.sched_getparam(0).sched_priority,
    "locked_kb": int(locked), "child_policy": os.waitstatus_to_exitcode(status),
}))
"""


def _run_child(priority: int = 5) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(priority)], capture_output=True,
                          text=True, timeout=60, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_try_realtime_reports_what_really_happened() -> None:
    result = _run_child()
    assert isinstance(result["sched"], str) and result["sched"]
    assert isinstance(result["mem"], str) and result["mem"]
    assert result["fifo"] is result["sched_ok"]
    if result["sched_ok"]:
        assert result["priority"] == 5
        assert result["child_policy"] == os.SCHED_OTHER  # reset on fork
    if result["mem_ok"]:
        assert isinstance(result["locked_kb"], int) and result["locked_kb"] > 0
    else:
        assert result["locked_kb"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for SCHED_FIFO and mlockall")
def test_as_root_both_steps_work() -> None:
    result = _run_child()
    assert result["sched_ok"] and result["mem_ok"], result


@pytest.mark.parametrize("priority", [0, 100, -3])
def test_invalid_priority_is_reported_not_raised(priority: int) -> None:
    outcome = set_fifo(priority)
    assert outcome == Outcome(False, outcome.detail)
    assert "outside" in outcome.detail
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_report_explains_a_failed_step_and_still_tries_the_other() -> None:
    result = _run_child(priority=1000)
    assert result["sched_ok"] is False and "outside" in str(result["sched"])
    assert not result["fifo"]
    assert result["mem"]
