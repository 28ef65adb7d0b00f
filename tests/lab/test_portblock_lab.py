"""The `portblock` agent in a lab node, with real nftables and a real TCP client: while
the ports are blocked a connect from the client (and from the node itself) gets no
answer at all and runs into its timeout, where an absent server would have answered
with a reset at once; the unblock resource opens the same rule, its stop closes it
again, and the agent contract holds for both actions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import NOT_RUNNING, SUCCESS, agent, background, contract
from labkit import sh
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

ADDRESS = "198.51.100.11"  # node1's admin address
SERVED, UNSERVED = 2049, 2050  # a listener on the first, nothing on the second
PARAMS = (f"address={ADDRESS}", f"ports=[{SERVED},{UNSERVED}]", "protocols=tcp")
BLOCK, UNBLOCK = (*PARAMS, "action=block"), (*PARAMS, "action=unblock")
RULE = f"tandem-portblock {ADDRESS} tcp {SERVED},{UNSERVED}"
HAS_RULE = f"nft list table inet tandem_portblock | grep -q '{RULE}'"
LISTENER = ("exec python3 -c \"import os, socket\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{ADDRESS}', {SERVED})); s.listen(64)\n"
            "open(os.environ['READY'], 'w').close()\n"
            "while True: s.accept()[0].close()\"")
# Prints 'connected', 'refused' or 'silent S' (no answer within the 1 s timeout).
PROBE = ("import socket, sys, time\n"
         "start = time.monotonic()\n"
         "try:\n"
         "    socket.create_connection(('" + ADDRESS + "', int(sys.argv[1])), timeout=1).close()\n"
         "    print('connected')\n"
         "except ConnectionRefusedError:\n"
         "    print('refused')\n"
         "except TimeoutError:\n"
         "    print(f'silent {time.monotonic() - start:.2f}')\n")


@pytest.fixture()
def listening(control: NodeControl, tmp_path: Path) -> Iterator[None]:
    """A TCP listener on node1's address; the table is gone again afterwards."""
    with background(control, tmp_path) as procs:
        procs.start("node1", LISTENER)
        try:
            yield
        finally:
            sh(control, "node1", "nft delete table inet tandem_portblock", check=False)


def connect(control: NodeControl, port: int, node: str = "client") -> str:
    """What a connect to the address sees: 'connected', 'refused' or 'silent'."""
    seen = sh(control, node, f"python3 -c \"{PROBE}\" {port}").strip()
    if seen.startswith("silent"):
        assert float(seen.split()[1]) >= 0.9, f"gave up early: {seen}"
        return "silent"
    return seen


def open_ports(control: NodeControl) -> None:
    assert connect(control, SERVED) == "connected"
    assert connect(control, UNSERVED) == "refused"  # no server: an immediate reset


def dropped(control: NodeControl) -> None:
    assert connect(control, SERVED) == "silent"
    assert connect(control, UNSERVED) == "silent"  # no reset even with no server
    assert connect(control, SERVED, node="node1") == "silent"  # a local client too


def run(control: NodeControl, action: str, params: tuple[str, ...], resource: str) -> int:
    return agent(control, "node1", "portblock", action, *params, resource=resource).code


def test_clients_get_silence_not_resets(control: NodeControl, listening: None) -> None:
    open_ports(control)
    assert run(control, "start", BLOCK, "pb-block") == SUCCESS  # before the address
    dropped(control)
    assert run(control, "start", UNBLOCK, "pb-unblock") == SUCCESS  # server ready
    open_ports(control)
    assert run(control, "status", BLOCK, "pb-block") == SUCCESS
    assert run(control, "status", UNBLOCK, "pb-unblock") == SUCCESS
    assert run(control, "stop", UNBLOCK, "pb-unblock") == SUCCESS  # server going down
    dropped(control)
    assert run(control, "status", UNBLOCK, "pb-unblock") == NOT_RUNNING
    assert run(control, "stop", BLOCK, "pb-block") == SUCCESS
    open_ports(control)
    assert run(control, "status", BLOCK, "pb-block") == NOT_RUNNING
    # A resource with other ports on the same address leaves this rule alone.
    assert run(control, "start", BLOCK, "pb-block") == SUCCESS
    other = (f"address={ADDRESS}", "ports=[80]", "action=block")
    assert run(control, "start", other, "pb-web") == SUCCESS
    assert run(control, "stop", other, "pb-web") == SUCCESS
    dropped(control)
    assert run(control, "stop", BLOCK, "pb-block") == SUCCESS


def test_agent_contract(control: NodeControl, listening: None) -> None:
    contract(control, "node1", "portblock", *BLOCK, resource="pb-block", witness=HAS_RULE)
    contract(control, "node1", "portblock", *UNBLOCK, resource="pb-unblock",
             witness=f"! {{ {HAS_RULE}; }}")
    # The unblock resource's stop put the shared rule back; the block one's stop takes it.
    assert sh(control, "node1", f"{HAS_RULE} && echo there").strip() == "there"
    assert run(control, "stop", BLOCK, "pb-block") == SUCCESS
    open_ports(control)
