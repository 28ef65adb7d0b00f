"""The `process` agent with real processes: the contract, environment and working
directory, a command that dies at once, one that ignores SIGTERM, leftovers of a
command that exited, and a recycled pid that must be neither reported nor killed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.lab.wait import wait_for
from tandem.resources.base import ResourceAgent, timed
from tandem.resources.process import read_record
from tandem.resources.proctab import ProcRef, is_running, proc_stat, session_members
from tandem.resources.registry import get_agent


@pytest.fixture()
def make(tmp_path: Path) -> Iterator[Any]:
    """Bind process agents whose pid and output files live in tmp_path; stop them all
    at the end, whatever happened."""
    made: list[ResourceAgent] = []

    def bind(command: list[str], **extra: Any) -> ResourceAgent:
        name = f"p{len(made)}"
        agent = get_agent("process").create(name, {
            "command": command, "pidfile": str(tmp_path / f"{name}.pid"),
            "output": str(tmp_path / f"{name}.log"), **extra})
        made.append(agent)
        return agent

    try:
        yield bind
    finally:
        for agent in made:
            asyncio.run(agent.stop())


def act(agent: ResourceAgent, action: str) -> tuple[int, str]:
    result = asyncio.run(timed(action, agent))
    return int(result.code), result.message


def test_contract(make: Any) -> None:
    agent = make(["sleep", "600"])
    assert act(agent, "status")[0] == 7
    code, message = act(agent, "start")
    assert code == 0 and message.startswith("pid ")
    assert act(agent, "start") == (0, f"already running ({message})")
    assert act(agent, "status")[0] == 0
    record = read_record(agent.pidfile)
    assert record is not None and is_running(record.ref)
    assert act(agent, "stop")[0] == 0
    assert not is_running(record.ref)
    assert act(agent, "stop") == (0, "not running")
    assert act(agent, "status")[0] == 7


def test_environment_and_working_directory(make: Any, tmp_path: Path) -> None:
    out, ready = tmp_path / "seen", tmp_path / "ready"
    agent = make(["sh", "-c", f'pwd > {out}; echo "$GREETING" >> {out}; echo y > {ready}; '
                              f"exec sleep 600"],
                 cwd=str(tmp_path), env={"GREETING": "hello there"})
    assert act(agent, "start")[0] == 0
    wait_file(ready, "the command's report")
    assert out.read_text().splitlines() == [str(tmp_path), "hello there"]


def test_command_that_dies_at_once(make: Any) -> None:
    code, message = act(make(["sh", "-c", "echo cannot open config >&2; exit 3"]), "start")
    assert code == 1 and "exited at once: cannot open config" in message


def test_sigterm_ignored_then_sigkill(make: Any, tmp_path: Path) -> None:
    ready = tmp_path / "ignoring"  # SIGTERM before the handler is set would just kill it
    agent = make(["python3", "-c", "import signal, time; "
                  "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  f"open({str(ready)!r}, 'w').write('yes'); time.sleep(600)"],
                 stop_timeout_s=0.3)
    assert act(agent, "start")[0] == 0
    wait_file(ready, "the command to ignore SIGTERM")
    code, message = act(agent, "stop")
    assert code == 0 and "SIGKILL after SIGTERM" in message
    assert act(agent, "status")[0] == 7


def wait_file(path: Path, what: str) -> str:
    """The content of `path` once something wrote it."""
    def content() -> str | None:
        return path.read_text() if path.exists() and path.read_text().strip() else None

    return wait_for(content, 10, what)


def test_other_stop_signal(make: Any, tmp_path: Path) -> None:
    got, ready = tmp_path / "got", tmp_path / "ready"
    agent = make(["python3", "-c", "import signal, sys, time\n"
                  f"signal.signal(signal.SIGINT, lambda *a: (open({str(got)!r}, 'w')"
                  ".write('INT'), sys.exit(0)))\n"
                  f"open({str(ready)!r}, 'w').write('yes')\ntime.sleep(600)"],
                 stop_signal="INT", stop_timeout_s=5.0)
    assert act(agent, "start")[0] == 0
    wait_file(ready, "the command's signal handler")
    code, message = act(agent, "stop")
    assert code == 0 and message.endswith("(SIGINT)")
    assert got.read_text() == "INT"


def test_leftovers_of_an_exited_command_are_found_and_stopped(make: Any,
                                                              tmp_path: Path) -> None:
    helper = tmp_path / "helper.pid"
    agent = make(["sh", "-c", f"sleep 600 & echo $! > {helper}; wait"])
    assert act(agent, "start")[0] == 0
    record = read_record(agent.pidfile)
    assert record is not None
    helper_stat = proc_stat(int(wait_file(helper, "the helper's pid")))
    assert helper_stat is not None
    subprocess.run(["kill", "-KILL", str(record.pid)], check=True)  # the command dies
    # kill(1) returns once the signal is sent, not once the command is gone.
    wait_for(lambda: not is_running(record.ref), 10, "the killed command to be gone")
    code, message = act(agent, "status")
    assert code == 1 and "process(es) of its session remain" in message
    assert act(agent, "stop")[0] == 0
    assert not is_running(helper_stat.ref)
    assert session_members(record.sid, record.start) == []


def test_recycled_pid_is_neither_reported_nor_killed(make: Any) -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        stat = proc_stat(stranger.pid)
        assert stat is not None
        agent = make(["sleep", "600"])
        # A pid file from an earlier life: same pid, earlier start time.
        pidfile: Path = agent.pidfile
        pidfile.write_text(f"{stranger.pid} {stat.start - 5} {stranger.pid}\n")
        assert act(agent, "status")[0] == 7
        assert act(agent, "stop")[0] == 0
        assert stranger.poll() is None and is_running(ProcRef(stranger.pid, stat.start))
    finally:
        stranger.kill()
        stranger.wait(10)


def test_unknown_user(make: Any) -> None:
    code, message = act(make(["true"], user="no-such-user-here"), "start")
    assert code == 5 and "no user" in message


def test_stop_signal_default_is_term() -> None:
    assert signal.Signals["SIG" + get_agent("process").create(
        "x", {"command": ["a"]}).values["stop_signal"]] == signal.SIGTERM
