"""Contract tests of the resource agents, run for real inside a lab node with
`tandem agent run`: exit codes, idempotent start and stop, and each agent's own cases."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import cell_config, running_lab, unique_lab_name, wait_for
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

SUCCESS, NOT_RUNNING = 0, 7


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeControl]:
    name = unique_lab_name("agents")
    with running_lab(tmp_path_factory.mktemp("agents"), cell_config(name, bmc=False),
                     name) as record:
        yield NodeControl(record)


def run(control: NodeControl, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(control.exec_argv(node, list(argv)), capture_output=True,
                          text=True, timeout=90)


def agent(control: NodeControl, node: str, name: str, action: str, *params: str,
          resource: str = "res", timeout: float | None = None) -> dict[str, object]:
    extra = ["--timeout", str(timeout)] if timeout else []
    done = run(control, node, "tandem", "agent", "run", name, action, *params,
               "--resource", resource, "--json", *extra)
    assert done.stdout, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    assert result["code"] == done.returncode
    return result


def contract(control: NodeControl, node: str, name: str, *params: str,
             resource: str = "res") -> None:
    """status stopped, start twice, status running, stop twice, status stopped."""
    def code(action: str) -> object:
        return agent(control, node, name, action, *params, resource=resource)["code"]

    assert code("status") == NOT_RUNNING
    assert code("start") == SUCCESS
    assert code("start") == SUCCESS  # idempotent
    assert code("status") == SUCCESS
    assert code("monitor") == SUCCESS
    assert code("stop") == SUCCESS
    assert code("stop") == SUCCESS  # idempotent
    assert code("status") == NOT_RUNNING


def test_dummy(control: NodeControl) -> None:
    contract(control, "node1", "dummy")


def neighbour_mac(control: NodeControl, address: str) -> str | None:
    out = run(control, "client", "ip", "-j", "neigh", "show", address).stdout
    entries = json.loads(out or "[]")
    return entries[0].get("lladdr") if entries else None


def mac_of(control: NodeControl, node: str) -> str:
    return str(json.loads(run(control, node, "ip", "-j", "link", "show", "eth0").stdout)[0]
               ["address"])


def test_ip_moves_and_clients_follow(control: NodeControl) -> None:
    vip = ("address=198.51.100.60/24", "interface=eth0")
    contract(control, "node1", "ip", *vip)
    assert agent(control, "node1", "ip", "start", *vip)["code"] == SUCCESS
    assert run(control, "client", "ping", "-c", "1", "-W", "1", "198.51.100.60").returncode == 0
    assert neighbour_mac(control, "198.51.100.60") == mac_of(control, "node1")
    assert agent(control, "node1", "ip", "stop", *vip)["code"] == SUCCESS
    assert agent(control, "node2", "ip", "start", *vip)["code"] == SUCCESS
    # The client learns the new owner from the announcement alone (it sent nothing).
    wait_for(lambda: neighbour_mac(control, "198.51.100.60") == mac_of(control, "node2"),
             2.0, "the client's neighbour entry to follow the address", interval=0.01)
    assert agent(control, "node2", "ip", "stop", *vip)["code"] == SUCCESS
    bad = agent(control, "node1", "ip", "start", "address=198.51.100.60/24",
                "interface=nosuch0")
    assert bad["code"] == 6 and "no interface" in str(bad["message"])


FS = ("device=/dev/tandem/shared", "mountpoint=/mnt/agentfs", "fstype=ext4")


def test_fs_contract_and_busy_unmount(control: NodeControl) -> None:
    contract(control, "node1", "fs", *FS)
    assert agent(control, "node1", "fs", "start", *FS)["code"] == SUCCESS
    assert run(control, "node1", "sh", "-c", "echo data > /mnt/agentfs/file").returncode == 0
    # Busy: one process sits in the mount, another ignores SIGTERM; an unrelated one
    # (cwd /) must survive the escalation.
    run(control, "node1", "sh", "-c", "cd /mnt/agentfs && (sleep 300 >/dev/null 2>&1 &)")
    run(control, "node1", "sh", "-c", "cd /mnt/agentfs && (sh -c \"trap '' TERM; "
                                      "while true; do sleep 1; done\" >/dev/null 2>&1 &)")
    run(control, "node1", "bash", "-c", "cd / && (exec -a unrelated-sleeper sleep 300 "
                                        ">/dev/null 2>&1 &)")
    assert run(control, "node1", "pgrep", "-f", "unrelated-sleeper").stdout.split()
    stopped = agent(control, "node1", "fs", "stop", *FS, "term_wait_s=0.3")
    assert stopped["code"] == SUCCESS and "round" in str(stopped["message"])
    assert agent(control, "node1", "fs", "status", *FS)["code"] == NOT_RUNNING
    survivors = run(control, "node1", "pgrep", "-f", "unrelated-sleeper").stdout.split()
    assert survivors, "an unrelated process was killed"
    run(control, "node1", "pkill", "-f", "unrelated-sleeper")
    # The data is there for the next owner.
    assert agent(control, "node2", "fs", "start", *FS)["code"] == SUCCESS
    assert run(control, "node2", "cat", "/mnt/agentfs/file").stdout == "data\n"
    twice = agent(control, "node2", "fs", "start", "device=/dev/tandem/shared",
                  "mountpoint=/mnt/other", "fstype=ext4")
    assert twice["code"] != SUCCESS and "already mounted" in str(twice["message"])
    assert agent(control, "node2", "fs", "stop", *FS)["code"] == SUCCESS


LSB = """#!/bin/sh
STATE=/run/tandem/lsb-$2.state
case "$1" in
  start) [ "$2" = slow ] && sleep 30; touch "$STATE" ;;
  stop) rm -f "$STATE" ;;
  status) [ -e "$STATE" ] && exit 0; exit 3 ;;
  *) exit 3 ;;
esac
"""


def test_lsb_script_and_timeout(control: NodeControl, tmp_path: Path) -> None:
    script = Path("/etc/HA/lsb-test")  # written inside node1's private /etc/HA
    run(control, "node1", "sh", "-c", f"cat > {script} <<'EOF'\n{LSB}EOF\nchmod +x {script}")
    contract(control, "node1", "script", f"path={script}", "args=fast")
    started = time.monotonic()
    slow = agent(control, "node1", "script", "start", f"path={script}", "args=slow",
                 timeout=1.0)
    assert slow["code"] == 1 and "timed out" in str(slow["message"])
    assert time.monotonic() - started < 20
    leftovers = run(control, "node1", "pgrep", "-f", "sleep 30").stdout.split()
    assert leftovers == [], "the timed-out script's process group survived"


def test_ocf_dummy_and_ipaddr2(control: NodeControl) -> None:
    contract(control, "node1", "ocf", "type=Dummy",
             'params={"state": "/run/tandem/ocf-dummy.state"}', resource="dummy1")
    params = 'params={"ip": "198.51.100.61", "cidr_netmask": "24", "nic": "eth0"}'
    contract(control, "node1", "ocf", "type=IPaddr2", params, resource="vip1")
    missing = agent(control, "node1", "ocf", "status", "type=NoSuchAgent")
    assert missing["code"] == 5


def test_process(control: NodeControl) -> None:
    contract(control, "node1", "process", "command=sleep,300")
    died = agent(control, "node1", "process", "start", "command=false", resource="dies")
    assert died["code"] == 1 and "exited at once" in str(died["message"])
    assert agent(control, "node1", "process", "start", "command=sleep,300",
                 resource="killed")["code"] == SUCCESS
    run(control, "node1", "pkill", "-f", "sleep 300")
    assert agent(control, "node1", "process", "status", "command=sleep,300",
                 resource="killed")["code"] == NOT_RUNNING
