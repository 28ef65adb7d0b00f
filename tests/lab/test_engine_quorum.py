"""Engine I: quorum in a three-node cell, wait-for-all, and hostile packets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from enginekit import fence_starts, running_cell
from labkit import node_events, tandem_in, wait_for
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.wire import MsgType, encode, load_key
from tandem.wire.message import Message, cluster_hash

pytestmark = pytest.mark.lab


def test_partition_two_plus_one(tmp_path: Path) -> None:
    """The isolated node loses quorum and fences nobody; the majority fences it once
    its BMC can be reached."""
    with running_cell(tmp_path, "q3", nodes=3, fencing=True) as cell:
        cell.faults.cut("node3", "bmc", bmc=True)  # majority cannot fence it yet
        cell.cut_rings("node3")
        wait_for(lambda: (s := cell.status("node3")) and not s["quorate"], 10,
                 "node3 to lose quorum")
        majority = cell.status("node1")
        assert majority is not None and majority["quorate"]
        wait_for(lambda: any(e["kind"] == "fence_failed" and e["node"] == "node3"
                             for e in node_events(cell.control, "node1")), 30,
                 "node1's first fencing of node3 to fail (BMC unreachable)")
        time.sleep(1.0)
        assert fence_starts(node_events(cell.control, "node3")) == []
        assert {cell.power(n) for n in cell.nodes} == {"on"}
        cell.faults.heal("node3", "bmc", bmc=True)
        cell.wait_state("node1", "node3", {"fenced"}, timeout=40)
        assert cell.power("node3") == "off"
        assert cell.power("node1") == "on" and cell.power("node2") == "on"
        assert fence_starts(cell.events_file("node3")) == []
        # node2 learns it from node1's next heartbeats (it never fenced node3 itself).
        cell.wait_state("node2", "node3", {"fenced"}, timeout=5)


def test_wait_for_all_and_unblock(tmp_path: Path) -> None:
    """A node that boots while its peer is unreachable is not quorate and fences
    nobody, until an operator unblocks it."""
    with running_cell(tmp_path, "wfa", fencing=True) as cell:
        cell.control.power_off("node2")
        cell.wait_state("node1", "node2", {"fenced", "offline", "lost", "fencing"})
        cell.faults.cut("node1", "admin")
        cell.faults.cut("node1", "backbone")
        cell.control.power_off("node1")
        cell.control.power_on("node1")  # boots alone: node2 is off and unreachable
        status = wait_for(lambda: cell.status("node1"), 20, "node1's daemon to answer")
        assert not status["quorate"]
        assert "waiting to see all nodes" in status["quorum"]["reason"]
        time.sleep(2.0)
        assert fence_starts(node_events(cell.control, "node1")) == []
        unblocked = tandem_in(cell.control, "node1", "node", "unblock")
        assert unblocked.returncode == 0, unblocked.stderr
        wait_for(lambda: (s := cell.status("node1")) and s["quorate"], 10,
                 "node1 to be quorate once unblocked")


CAPTURE = """
import socket, struct, sys
sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
sock.bind(("eth0", 0))
sock.settimeout(5)
for _ in range(200):
    packet = sock.recv(65535)
    header = (packet[0] & 0x0F) * 4
    if packet[9] != 17 or socket.inet_ntoa(packet[12:16]) != sys.argv[1]:
        continue
    sport, dport = struct.unpack("!HH", packet[header:header + 4])
    if dport == 5405:
        print(packet[header + 8:].hex())
        break
"""


def capture_heartbeat(control: NodeControl, node: str, source: str) -> bytes:
    """A genuine cluster datagram from `source`, as it arrived at `node`."""
    done = subprocess.run(control.exec_argv(node, [sys.executable, "-c", CAPTURE, source]),
                          capture_output=True, text=True, timeout=30, check=True)
    return bytes.fromhex(done.stdout.strip())


SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in sys.stdin:
    s.sendto(bytes.fromhex(line.strip()), ("198.51.100.11", 5405))
"""


def _send_from_client(control: NodeControl, frames: list[bytes]) -> None:
    """Send raw datagrams to node1 from the lab's client namespace."""
    argv = control.exec_argv("client", [sys.executable, "-c", SENDER])
    subprocess.run(argv, input="\n".join(f.hex() for f in frames), text=True, check=True,
                   timeout=30)


def test_forged_and_replayed_packets_are_dropped(tmp_path: Path) -> None:
    with running_cell(tmp_path, "forge", fencing=True) as cell:
        key = load_key(LabNames(cell.record.name).node_root("node1") /
                       "etc/tandem/cluster.key")
        status = cell.status("node1")
        assert status is not None
        peer = next(n for n in status["nodes"] if n["name"] == "node2")
        incarnation = int(peer["incarnation"])
        cluster = cluster_hash(cell.control.config.name)

        def frame(k: bytes, inc: int, seq: int, body: bytes = b'{"hears":[],"cv":1}') -> bytes:
            return encode(Message(MsgType.HEARTBEAT, cluster, 2, 0, inc, seq, body), k)

        forged = frame(b"\x00" * 32, incarnation, 10**9)    # wrong key
        replayed = capture_heartbeat(cell.control, "node1", "198.51.100.12")  # seen already
        old_life = frame(key, incarnation - 1, 10**9)          # an older incarnation
        truncated = frame(key, incarnation, 10**9)[:20]
        oversized = b"\x00" * 65000
        events_before = len(node_events(cell.control, "node1"))
        _send_from_client(cell.control, [forged, replayed, old_life, truncated] * 5)
        _send_from_client(cell.control, [oversized])
        time.sleep(1.0)
        after = cell.status("node1")
        assert after is not None
        stats = after["transport"]["0"]
        assert stats["drop_bad_mac"] >= 5
        assert stats["drop_too_old"] + stats["drop_duplicate"] >= 5  # the replays
        assert stats["drop_old_incarnation"] >= 5
        assert stats["drop_truncated"] >= 5
        assert stats["drop_oversized"] + stats["drop_truncated"] >= 6
        # Nothing changed: same members, same incarnation, no new membership events.
        assert {n["name"]: n["state"] for n in after["nodes"]} == {"node1": "online",
                                                                 "node2": "online"}
        peer_after = next(n for n in after["nodes"] if n["name"] == "node2")
        assert peer_after["incarnation"] == incarnation
        new_events = node_events(cell.control, "node1")[events_before:]
        assert [e for e in new_events if e["kind"] in ("node", "quorum", "fence_start")] == []
