"""The `nfs_server` agent with fake commands: parameter checks, the configuration it
writes, start waiting for an answer and refusing a configuration Ganesha logged as
wrong, status and monitor from `rpcinfo`'s answers, a server dead behind our back, and
an rpcbind started only when the node has none (and stopped with the server)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tandem.hpc.nfs import agent as nfs
from tandem.resources.base import AgentResult, OcfCode, ParamError, Timeouts
from tandem.resources.process import read_record
from tandem.resources.registry import get_agent

FAKE_GANESHA = """#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -L) log=$2;; esac; shift; done
echo "ganesha started" >> "$log"
[ -n "$FAKE_LOG_LINE" ] && echo "$FAKE_LOG_LINE" >> "$log"
exec sleep 60
"""
FAKE_RPCINFO = """#!/bin/sh
if [ -e "$FAKE_DIR/blocked-$3" ]; then echo "rpcinfo: RPC: Timed out" >&2; exit 1; fi
if [ -e "$FAKE_DIR/down-$4" ]; then echo "rpcinfo: RPC: Program not registered" >&2; exit 1; fi
echo "program $4 version $5 ready and waiting"
"""


@dataclass
class Node:
    """A fake node under tmp_path: binaries, the failover disk, the agent's dirs."""

    root: Path

    def params(self, **change: Any) -> dict[str, Any]:
        return {"address": "198.51.100.70", "exports": [{"path": f"{self.root}/srv/home",
                                                         "id": 1}],
                "recovery_dir": f"{self.root}/srv/.recovery", "grace_s": 5,
                "ganesha": f"{self.root}/ganesha", "rpcbind": f"{self.root}/rpcbind", **change}

    def agent(self, **change: Any) -> nfs.NfsServerAgent:
        made = get_agent("nfs_server").create("nfs", self.params(**change))
        assert isinstance(made, nfs.NfsServerAgent)
        return made

    def down(self, program: int) -> None:
        (self.root / f"down-{program}").touch()


def script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture()
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    script(tmp_path / "ganesha", FAKE_GANESHA)
    script(tmp_path / "rpcbind", "#!/bin/sh\nexec sleep 60\n")
    script(tmp_path / "rpcinfo", FAKE_RPCINFO)
    (tmp_path / "srv/home").mkdir(parents=True)
    monkeypatch.setattr(nfs, "RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setattr(nfs, "LOG_DIR", str(tmp_path / "log"))
    monkeypatch.setattr(nfs, "RPCINFO", str(tmp_path / "rpcinfo"))
    monkeypatch.setattr(nfs, "POLL_S", 0.01)
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.delenv("FAKE_LOG_LINE", raising=False)
    made = Node(tmp_path)
    yield made
    asyncio.run(made.agent().stop())  # nothing outlives a test


@pytest.fixture()
def node_rpcbind(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether this node runs an rpcbind of its own (flip the list's one value)."""
    answers = [True]

    async def port_open(host: str, port: int, timeout_s: float) -> bool:
        assert (host, port) == ("127.0.0.1", 111)
        return answers[0]
    monkeypatch.setattr(nfs, "port_open", port_open)
    return answers


def run(agent: nfs.NfsServerAgent, action: str) -> AgentResult:
    result: AgentResult = asyncio.run(getattr(agent, action)())
    return result


SEMANTIC = [
    ({"address": "198.51.100.70/24"}, "address: expected an IP address without prefix"),
    ({"address": "nfs.example"}, "address: expected an IP address"),
    ({"recovery_dir": "srv/recovery"}, "recovery_dir: expected an absolute path"),
    ({"ganesha": "ganesha.nfsd"}, "ganesha: expected an absolute path"),
    ({"grace_s": 0}, "grace_s: must be 1..180"),
    ({"grace_s": 181}, "grace_s: must be 1..180"),
    ({"exports": [{"path": "/srv/a", "id": 70000}]}, r"exports\[0\].id: expected an integer"),
]


@pytest.mark.parametrize(("change", "message"), SEMANTIC)
def test_parameters_are_checked(node: Node, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        node.agent(**change)


def test_defaults() -> None:
    made = get_agent("nfs_server").create("nfs", {
        "address": "2001:db8::70", "exports": [{"path": "/srv/home", "id": 1}],
        "recovery_dir": "/srv/.recovery"})
    assert made.values["grace_s"] == 10
    assert made.values["ganesha"] == "/usr/bin/ganesha.nfsd"
    assert made.values["rpcbind"] == "/usr/sbin/rpcbind"


def test_start_writes_the_configuration_and_waits_for_an_answer(
        node: Node, node_rpcbind: list[bool]) -> None:
    agent = node.agent()
    assert run(agent, "status").code == OcfCode.NOT_RUNNING
    started = run(agent, "start")
    assert started.ok and "the node's own" in started.message
    assert "answers (on 127.0.0.1, for 198.51.100.70) after" in started.message
    text = Path(nfs.RUN_DIR, "nfs.conf").read_text()
    assert text == agent.config_text()
    assert f'RecoveryRoot = "{node.root}/srv/.recovery";' in text
    assert f'Path = "{node.root}/srv/home";' in text and "Grace_Period = 5;" in text
    assert (node.root / "srv/.recovery").is_dir()
    record = read_record(Path(nfs.RUN_DIR, "nfs.pid"))
    assert record is not None
    argv = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    assert argv[:3] == [b"sleep", b"60", b""]  # exec'd by the fake; the real one runs -F
    assert run(agent, "start").message == "already running"
    assert run(agent, "status").ok and run(agent, "monitor").ok
    assert not Path(nfs.RUN_DIR, "nfs-rpcbind.pid").exists(), "the node's rpcbind was used"


def test_start_does_not_need_the_blocked_service_address(
        node: Node, node_rpcbind: list[bool]) -> None:
    """While the server starts, portblock drops everything to the service address: the
    start checks the server on the loopback; status (after the unblock) on the address."""
    (node.root / "blocked-198.51.100.70").touch()
    agent = node.agent()
    assert run(agent, "start").ok
    status = run(agent, "status")
    assert status.code == OcfCode.ERR_GENERIC and "Timed out" in status.message
    (node.root / "blocked-198.51.100.70").unlink()
    assert run(agent, "status").ok
    assert run(agent, "stop").ok


def test_start_refuses_without_the_failover_disk(node: Node, node_rpcbind: list[bool]) -> None:
    started = run(node.agent(recovery_dir=f"{node.root}/nodisk/.recovery"), "start")
    assert started.code == OcfCode.ERR_GENERIC and "is the failover disk mounted" in \
        started.message
    started = run(node.agent(exports=[{"path": f"{node.root}/srv/gone", "id": 3}]), "start")
    assert "exported directory" in started.message and "does not exist" in started.message
    started = run(node.agent(ganesha=f"{node.root}/missing"), "start")
    assert started.code == OcfCode.ERR_INSTALLED


def test_a_configuration_error_logged_by_ganesha_fails_the_start(
        node: Node, node_rpcbind: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LOG_LINE", "x : epoch 1 : n : ganesha.nfsd-1[main] "
                       "config_errs_to_log :CONFIG :CRIT :Config File (c:30): bad client")
    started = run(node.agent(), "start")
    assert started.code == OcfCode.ERR_CONFIGURED
    assert started.message.endswith("Config File (c:30): bad client")


def test_start_fails_when_the_server_never_answers(
        node: Node, node_rpcbind: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nfs.NfsServerAgent, "timeouts", Timeouts(start=0.4))
    node.down(100003)
    started = run(node.agent(), "start")
    assert started.code == OcfCode.ERR_GENERIC
    assert "did not answer on 127.0.0.1 within 0.2 s: rpcinfo: RPC: Program not " \
           "registered" in started.message


def test_status_and_monitor_follow_rpcinfo(node: Node, node_rpcbind: list[bool]) -> None:
    agent = node.agent()
    assert run(agent, "start").ok
    node.down(100005)
    assert run(agent, "status").ok
    monitored = run(agent, "monitor")
    assert monitored.code == OcfCode.ERR_GENERIC
    assert monitored.message == ("MOUNT does not answer on 198.51.100.70: "
                                 "rpcinfo: RPC: Program not registered")
    node.down(100003)
    assert run(agent, "status").message.startswith("NFS does not answer on 198.51.100.70")


def test_a_server_killed_behind_our_back_is_a_failure(
        node: Node, node_rpcbind: list[bool]) -> None:
    agent = node.agent()
    assert run(agent, "start").ok
    record = read_record(Path(nfs.RUN_DIR, "nfs.pid"))
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    for _ in range(100):
        if not Path(f"/proc/{record.pid}").exists() or \
                Path(f"/proc/{record.pid}/stat").read_text().split()[2] == "Z":
            break
        asyncio.run(asyncio.sleep(0.01))
    status = run(agent, "status")
    assert status.code == OcfCode.ERR_GENERIC
    assert "ganesha.nfsd died" in status.message and "ganesha started" in status.message
    assert run(agent, "stop").ok
    assert run(agent, "status").code == OcfCode.NOT_RUNNING


def test_rpcbind_is_started_only_when_the_node_has_none_and_stopped_after(
        node: Node, node_rpcbind: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    node_rpcbind[0] = False
    calls = iter([False, False, True])  # none runs; ours opens its port on the 2nd poll

    async def port_open(host: str, port: int, timeout_s: float) -> bool:
        return next(calls, True)
    monkeypatch.setattr(nfs, "port_open", port_open)
    agent = node.agent()
    started = run(agent, "start")
    assert started.ok and "rpcbind: started (pid" in started.message
    record = read_record(Path(nfs.RUN_DIR, "nfs-rpcbind.pid"))
    assert record is not None and Path(f"/proc/{record.pid}").exists()
    stopped = run(agent, "stop")
    assert stopped.ok and "rpcbind stopped pid" in stopped.message
    assert not Path(nfs.RUN_DIR, "nfs-rpcbind.pid").exists()
    assert run(agent, "stop").message == "ganesha not running; our rpcbind not running"
