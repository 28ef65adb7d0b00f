"""Helpers shared by the agent lab tests (test_agent_*.py; their lab is the module-wide
`control` fixture of conftest): running `tandem agent run` inside a node, the agent
contract, and background processes in a node that are always killed at the end."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labkit import sh, wait_for
from tandem.lab.nodes import NodeControl
from tandem.resources.proctab import ProcRef, proc_stat, send_signal

SUCCESS, ERR_GENERIC, ERR_INSTALLED, NOT_RUNNING = 0, 1, 5, 7
# The console script itself: the pyenv shim in front of it costs a tenth of a second.
_SCRIPT = Path(sys.executable).with_name("tandem")
TANDEM = str(_SCRIPT) if _SCRIPT.exists() else "tandem"


@dataclass(frozen=True)
class Outcome:
    """What `tandem agent run --json` reported (its exit status is the code)."""

    code: int
    message: str


def agent(control: NodeControl, node: str, name: str, action: str, *params: str,
          resource: str = "res", timeout: float | None = None) -> Outcome:
    """`tandem agent run NAME ACTION PARAMS...` inside a node."""
    extra = ["--timeout", f"{timeout:g}"] if timeout else []
    argv = [TANDEM, "agent", "run", name, action, *params, "--resource", resource, "--json",
            *extra]
    done = subprocess.run(control.exec_argv(node, argv), capture_output=True, text=True,
                          timeout=120)
    assert done.stdout, f"no result from {argv}: {done.stderr}"
    result = json.loads(done.stdout)
    assert result["code"] == done.returncode, "the exit status is not the OCF code"
    return Outcome(int(result["code"]), str(result["message"]))


def contract(control: NodeControl, node: str, name: str, *params: str,
             resource: str = "res", witness: str = "") -> None:
    """Stopped at first; start twice; running; stop twice; stopped again. `witness` is
    a shell command inside the node that succeeds exactly while the resource is up."""
    def code(action: str) -> int:
        outcome = agent(control, node, name, action, *params, resource=resource)
        return outcome.code

    def seen() -> bool:
        return not witness or sh(control, node, f"{witness} >/dev/null 2>&1 && echo up",
                                 check=False).strip() == "up"

    assert code("status") == NOT_RUNNING
    assert code("start") == SUCCESS
    assert code("start") == SUCCESS, "a second start must succeed (idempotent)"
    assert code("status") == SUCCESS
    assert code("monitor") == SUCCESS
    assert seen(), f"{name} says it runs, but {witness!r} disagrees"
    assert code("stop") == SUCCESS
    assert code("stop") == SUCCESS, "a second stop must succeed (idempotent)"
    assert code("status") == NOT_RUNNING
    assert not witness or not seen(), f"{name} says it stopped, but {witness!r} disagrees"


class Background:
    """Processes started in lab nodes by a test; all killed when the test ends. Nodes
    share the host's pid space, so the pids are ours to watch and signal."""

    def __init__(self, control: NodeControl, ready_dir: Path) -> None:
        self.control = control
        self.ready_dir = ready_dir
        self.refs: list[ProcRef] = []

    def start(self, node: str, script: str) -> ProcRef:
        """Run `script` in the background in `node`. It must create the file "$READY"
        once set up (before it execs the long-running program)."""
        ready = self.ready_dir / f"ready{len(self.refs)}"
        line = (f"READY={ready}; export READY; ({script}) </dev/null >/dev/null 2>&1 & "
                f"echo $!")
        pid = int(sh(self.control, node, line).strip())
        stat = proc_stat(pid)
        assert stat is not None, f"{script!r} died at once"
        self.refs.append(stat.ref)
        wait_for(ready.exists, 20, f"{script!r} to get ready")
        return stat.ref

    def kill_all(self) -> None:
        for ref in self.refs:
            send_signal(ref, signal.SIGKILL)


@contextlib.contextmanager
def background(control: NodeControl, tmp_path: Path) -> Iterator[Background]:
    procs = Background(control, tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")
