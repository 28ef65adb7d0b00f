"""The `ip` agent in a lab cell: when the address moves to the other node, the client's
neighbour cache switches to the new node's MAC from the announcement alone, before the
client sends anything (IPv4 gratuitous ARP, IPv6 unsolicited NA). A move without
announcement leaves the stale entry in place, which shows the check can fail. Also:
labels, a monitor that sees a pulled cable, and refusals."""

from __future__ import annotations

import json

import pytest

from agentkit import ERR_GENERIC, NOT_RUNNING, SUCCESS, agent
from labkit import sh, wait_for
from tandem.lab.faults import NetworkFaults
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

CLIENT_V6 = "2001:db8:100::250/64"


@pytest.fixture(scope="module")
def control(control: NodeControl) -> NodeControl:
    """The module's lab, its client with an IPv6 address too."""
    sh(control, "client", f"ip addr add {CLIENT_V6} dev eth0 nodad")
    return control


def neighbour_mac(control: NodeControl, address: str) -> str | None:
    entries = json.loads(sh(control, "client", f"ip -j neigh show {address}") or "[]")
    return entries[0].get("lladdr") if entries else None


def mac_of(control: NodeControl, node: str) -> str:
    return str(json.loads(sh(control, node, "ip -j link show eth0"))[0]["address"])


def ping(control: NodeControl, address: str) -> None:
    sh(control, "client", f"ping -c 1 -W 2 {address}")


@pytest.mark.parametrize("address", ["198.51.100.70/24", "2001:db8:100::70/64"],
                         ids=["ipv4-gratuitous-arp", "ipv6-unsolicited-na"])
def test_client_follows_a_moved_address(control: NodeControl, address: str) -> None:
    vip = (f"address={address}", "interface=eth0")
    ip = address.split("/", maxsplit=1)[0]
    mac1, mac2 = mac_of(control, "node1"), mac_of(control, "node2")
    assert agent(control, "node1", "ip", "start", *vip).code == SUCCESS
    try:
        ping(control, ip)
        assert neighbour_mac(control, ip) == mac1
        assert agent(control, "node1", "ip", "stop", *vip).code == SUCCESS
        # Moved without a word to the neighbours: the client keeps the old owner's MAC.
        assert agent(control, "node2", "ip", "start", *vip,
                     "announce_count=0").code == SUCCESS
        assert neighbour_mac(control, ip) == mac1
        # Started again with announcements (the default): the client learns the new
        # owner from them alone; it sends nothing meanwhile.
        started = agent(control, "node2", "ip", "start", *vip)
        assert started.code == SUCCESS and "announced again" in started.message
        wait_for(lambda: neighbour_mac(control, ip) == mac2, 5,
                 f"the client's neighbour entry for {ip} to switch to node2")
        ping(control, ip)
    finally:
        for node in ("node1", "node2"):
            agent(control, node, "ip", "stop", *vip)


def test_label_prefix_and_monitor(control: NodeControl) -> None:
    vip = ("address=203.0.113.70/24", "interface=eth1", "label=eth1:ha")
    assert agent(control, "node1", "ip", "start", *vip).code == SUCCESS
    faults = NetworkFaults(control.record, control.config)
    try:
        shown = sh(control, "node1", "ip -o -4 addr show dev eth1")
        assert "203.0.113.70/24" in shown and "eth1:ha" in shown
        assert agent(control, "node1", "ip", "monitor", *vip).code == SUCCESS
        faults.cut("node1", "backbone")  # pull the cable: up, but no carrier
        pulled = agent(control, "node1", "ip", "monitor", *vip)
        assert pulled.code == ERR_GENERIC and "interface eth1 is" in pulled.message
        assert agent(control, "node1", "ip", "status", *vip).code == SUCCESS  # still there
        faults.heal("node1", "backbone")
        wait_for(lambda: agent(control, "node1", "ip", "monitor", *vip).code == SUCCESS, 10,
                 "the monitor to see the cable back")
        other_prefix = agent(control, "node1", "ip", "status", "address=203.0.113.70/16",
                             "interface=eth1")
        assert other_prefix.code == ERR_GENERIC and "prefix /24, not /16" in other_prefix.message
        conflict = agent(control, "node1", "ip", "start", "address=203.0.113.70/24",
                         "interface=eth0")
        assert conflict.code == ERR_GENERIC and "already on eth1" in conflict.message
    finally:
        faults.heal("node1", "backbone")
        assert agent(control, "node1", "ip", "stop", *vip).code == SUCCESS
    assert "203.0.113.70" not in sh(control, "node1", "ip -o addr")
    assert agent(control, "node1", "ip", "status", *vip).code == NOT_RUNNING
