"""The contract every agent keeps, checked for real inside a lab node through
`tandem agent run`: stopped at first, idempotent start and stop, truthful status (a
witness command in the node confirms it); an action that hangs past its timeout is
killed with its whole process group; agent programs missing on the node."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import (
    ERR_GENERIC,
    ERR_INSTALLED,
    NOT_RUNNING,
    SUCCESS,
    agent,
    contract,
    uid_of,
)
from labkit import sh
from tandem.lab.nodes import NodeControl
from tandem.resources.proctab import proc_stat

pytestmark = pytest.mark.lab

LSB_PATH = "/etc/HA/lsb-contract"  # inside node1's private /etc/HA
# An LSB script that runs a real daemon (a sleep with a pid file in the node's private
# /run/tandem); `start` hangs with a helper in the background while HANG exists.
LSB = """#!/bin/sh
PIDFILE=/run/tandem/lsb-contract.pid
running() { [ -e $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; }
case "$1" in
  start)
    if [ -e /run/tandem/HANG ]; then
      sleep 600 & echo $! > /run/tandem/hang-helper.pid
      echo $$ > /run/tandem/hang-script.pid
      sleep 600
    fi
    running && exit 0
    sleep 600 </dev/null >/dev/null 2>&1 & echo $! > $PIDFILE ;;
  stop) running || exit 0; kill "$(cat $PIDFILE)"; rm -f $PIDFILE ;;
  status) running && exit 0; [ -e $PIDFILE ] && exit 1; exit 3 ;;
  *) exit 3 ;;
esac
"""

MOUNTPOINT = f"/mnt/tandem-contract-{os.getpid()}"
AGENTS = [
    pytest.param("dummy", (), "test -e /run/tandem/dummy/res", id="dummy"),
    pytest.param("ip", ("address=198.51.100.60/24", "interface=eth0"),
                 "ip -o addr show dev eth0 | grep -q ' 198.51.100.60/24 '", id="ip4"),
    pytest.param("ip", ("address=2001:db8:100::60/64", "interface=eth0"),
                 "ip -o addr show dev eth0 | grep -q ' 2001:db8:100::60/64 '", id="ip6"),
    pytest.param("fs", ("device=/dev/tandem/shared", f"mountpoint={MOUNTPOINT}",
                        "fstype=ext4"),
                 f"grep -q ' {MOUNTPOINT} ' /proc/self/mountinfo", id="fs"),
    pytest.param("script", (f"path={LSB_PATH}",),
                 "kill -0 $(cat /run/tandem/lsb-contract.pid)", id="script"),
    pytest.param("ocf", ("type=Dummy", "params.state=/run/tandem/ocf-dummy.state"),
                 "test -e /run/tandem/ocf-dummy.state", id="ocf-Dummy"),
    pytest.param("ocf", ("type=IPaddr2", "params.ip=198.51.100.61",
                         "params.cidr_netmask=24", "params.nic=eth0"),
                 "ip -o addr show dev eth0 | grep -q ' 198.51.100.61/24 '", id="ocf-IPaddr2"),
    pytest.param("process", ("command=sleep,600",),
                 "pgrep -x sleep -s $(cut -d' ' -f3 /run/tandem/process/res.pid)",
                 id="process"),
]


@pytest.fixture(scope="module")
def control(control: NodeControl) -> Iterator[NodeControl]:
    """The module's lab, with the LSB script installed in node1."""
    try:
        sh(control, "node1", f"cat > {LSB_PATH} <<'EOF'\n{LSB}EOF\nchmod +x {LSB_PATH}")
        yield control
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(MOUNTPOINT).rmdir()


@pytest.mark.parametrize(("name", "params", "witness"), AGENTS)
def test_contract(control: NodeControl, name: str, params: tuple[str, ...],
                  witness: str) -> None:
    contract(control, "node1", name, *params, witness=witness)


def test_hung_action_is_killed_with_its_process_group(control: NodeControl) -> None:
    sh(control, "node1", "touch /run/tandem/HANG")
    try:
        outcome = agent(control, "node1", "script", "start", f"path={LSB_PATH}", timeout=1)
    finally:
        sh(control, "node1", "rm -f /run/tandem/HANG")
    assert outcome.code == ERR_GENERIC and "timed out after 1 s" in outcome.message
    for name in ("hang-script", "hang-helper"):
        stat = proc_stat(int(sh(control, "node1", f"cat /run/tandem/{name}.pid")))
        assert stat is None or not stat.alive, f"{name} (pid {stat.pid}) survived the timeout"
    assert agent(control, "node1", "script", "status", f"path={LSB_PATH}").code == NOT_RUNNING


def test_programs_missing_on_the_node(control: NodeControl) -> None:
    for name, params in (("ocf", ("type=NoSuchAgent",)),
                         ("script", ("path=/etc/init.d/no-such-script",))):
        assert agent(control, "node1", name, "status", *params).code == NOT_RUNNING
        assert agent(control, "node1", name, "stop", *params).code == SUCCESS
        assert agent(control, "node1", name, "start", *params).code == ERR_INSTALLED
    missing = agent(control, "node1", "ip", "start", "address=198.51.100.62/24",
                    "interface=nosuch0")
    assert missing.code == ERR_INSTALLED and "no interface nosuch0" in missing.message


def test_process_runs_as_another_user(control: NodeControl) -> None:
    params = ("command=sleep,600", "user=nobody")
    started = agent(control, "node1", "process", "start", *params, resource="asnobody")
    assert started.code == SUCCESS, started.message
    try:
        assert uid_of(int(started.message.split()[-1])) == 65534
    finally:
        assert agent(control, "node1", "process", "stop", *params,
                     resource="asnobody").code == SUCCESS
