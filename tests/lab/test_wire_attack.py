"""The wire under attack, on a live two-node cell with two heartbeat rings.

An attacker on both heartbeat networks (the lab's client, given a leg on the second
ring) records genuine frames on the lab's bridges, then sends 10,000 forged, replayed,
truncated, oversized and bit-flipped packets per ring at both nodes
(tandem.lab.attack, tandem.lab.inject). None may be accepted (a node receives no more
than its peer sent it), each is counted under the drop reason it must get, the
daemons do not restart, and the membership does not move (both nodes see each other
online all along, no membership, ring, quorum or fencing event). The split-brain watch
runs the whole time.

Then the control socket with a real unprivileged user (nobody): refused by the file
mode, and, when the socket is opened up by hand, by the daemon's own check.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from enginekit import Cell, running_cell
from labkit import sh, tandem_in
from tandem.lab.attack import STALE
from tandem.lab.names import LabNames
from tandem.lab.network import plug
from tandem.lab.query import tandem_argv

pytestmark = pytest.mark.lab

PER_RING = 10_000
RATE = 2_000  # packets per second, both rings and nodes together
CAPTURE_S = 3.0
ATTACKER_BACKBONE = ipaddress.ip_interface("203.0.113.250/24")
MEMBERSHIP_KINDS = {"node", "ring", "quorum", "coordinator", "fence_start", "daemon_start"}
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
SOCKET = "/run/tandem/tandemd.sock"


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cell]:
    with running_cell(tmp_path_factory.mktemp("wattk"), "wattk") as made:
        yield made


def in_fabric(cell: Cell, argv: list[str]) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{LabNames(cell.record.name).fabric_ns}", "--",
            *argv]


def record_frames(cell: Cell) -> list[dict[str, Any]]:
    """Genuine frames seen on the bridges, each with the node it was sent to."""
    config = cell.control.config
    owner = {str(i.address.ip): n.id for n in config.nodes for i in n.interfaces}
    done = subprocess.run(in_fabric(cell, [
        sys.executable, "-m", "tandem.lab.wiretap", "--port", str(config.port),
        "--seconds", str(CAPTURE_S)]), capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    frames = [{"dest": owner[d["dst"]], "hex": d["hex"]} for d in lines if d["dst"] in owner]
    streams = Counter((f["dest"], bytes.fromhex(f["hex"])[18]) for f in frames)
    print(f"\nrecorded {len(lines)} datagrams; to (node, ring): {dict(streams)}")
    assert len(streams) == len(config.nodes) * len(config.rings), done.stderr
    return frames


def status(cell: Cell, node: str) -> dict[str, Any]:
    found = cell.status(node)
    assert found is not None, f"{node} does not answer"
    return found


def udp_rcvbuf_errors(cell: Cell, node: str) -> int:
    """Datagrams the node's kernel dropped for a full socket buffer (never seen by tandem)."""
    lines = [line.split() for line in sh(cell.control, node, "cat /proc/net/snmp").splitlines()
             if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def moved(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Counter[str]]:
    """How much each transport counter of each ring grew between two statuses."""
    return {ring: Counter(new["transport"][ring]) - Counter(old["transport"][ring])
            for ring in new["transport"]}


def check_ring(where: str, got: Counter[str], peer_sent: int,
               expected: Counter[str], slack: int) -> None:
    """Nothing accepted beyond what the peer sent; every bad packet dropped for the
    reason it must get (give or take what the kernel dropped for a full buffer)."""
    dropped = Counter({k.removeprefix("drop_"): v for k, v in got.items()
                       if k.startswith("drop_")})
    print(f"{where}: rx_ok {got['rx_ok']} (peer sent {peer_sent}), dropped {dict(dropped)}")
    assert got["rx_ok"] <= peer_sent, f"{where}: a bad packet was accepted"
    dropped[STALE] = dropped.pop("duplicate", 0) + dropped.pop("too_old", 0)
    for reason in set(expected) | set(dropped):
        assert expected[reason] - slack <= dropped[reason] <= expected[reason], \
            f"{where}: {reason}: dropped {dropped[reason]}, expected {expected[reason]} " \
            f"(kernel drops {slack})"


def attack(cell: Cell, plan_path: Path) -> dict[str, Any]:
    """Run the injector in the client; watch both nodes see each other meanwhile."""
    injector = subprocess.Popen(cell.control.exec_argv("client", [
        sys.executable, "-m", "tandem.lab.inject", str(plan_path)]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lapses = []
    try:
        deadline = time.monotonic() + 10 * PER_RING * 2 / RATE + 120
        while injector.poll() is None and time.monotonic() < deadline:
            for observer in cell.nodes:
                if not cell.sees_all_online(observer):
                    lapses.append(f"{time.strftime('%T')} {observer}: {cell.status(observer)}")
            time.sleep(1.0)
        out, err = injector.communicate(timeout=30)
    finally:
        if injector.poll() is None:
            injector.kill()
            injector.wait()
    assert injector.returncode == 0, err
    assert not lapses, "membership disturbed during the attack:\n" + "\n".join(lapses)
    result: dict[str, Any] = json.loads(out)
    return result


def test_bad_packets_on_every_ring_are_all_dropped(cell: Cell, tmp_path: Path) -> None:
    config = cell.control.config
    names = LabNames(cell.record.name)
    plug(names, config, names.client_ns, "backbone", ATTACKER_BACKBONE)
    frames = record_frames(cell)
    addresses = {str(n.id): {str(r.ring): str(i.address.ip) for r in config.rings
                             if (i := n.interface_on(r.name)) is not None}
                 for n in config.nodes}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"cluster": config.name, "port": config.port,
                                "nodes": addresses, "frames": frames, "per_ring": PER_RING,
                                "rate": RATE, "seed": 16}))
    (first, second), began = cell.nodes, time.time()
    kernel_before = {n: udp_rcvbuf_errors(cell, n) for n in cell.nodes}
    before = [status(cell, first), status(cell, second), status(cell, first)]
    done = attack(cell, plan)
    time.sleep(1.0)  # the last datagrams are handled
    after = [status(cell, first), status(cell, second), status(cell, first)]
    kernel = {n: udp_rcvbuf_errors(cell, n) - kernel_before[n] for n in cell.nodes}
    print(f"\ninjected {done['sent']} packets in {done['seconds']} s "
          f"({done['send_errors']} send errors); kernel drops (full buffer): {kernel}")
    assert done["sent"] == PER_RING * 5 * 2 and done["send_errors"] == 0

    # rx windows lie inside the peer's tx windows (reads ordered first, second, first).
    rx = {first: moved(before[2], after[0]), second: moved(before[1], after[1])}
    tx = {first: moved(before[0], after[2]), second: rx[second]}
    for node, peer in ((first, second), (second, first)):
        expected = done["expected"][str(config.node(node).id)]
        for ring in ("0", "1"):
            check_ring(f"{node} ring {ring}", rx[node][ring], tx[peer][ring]["tx_ok"],
                       Counter(expected[ring]), kernel[node])
        assert kernel[node] <= PER_RING // 100, f"{node}: the kernel dropped {kernel[node]}"

    for node, (old, new) in ((first, (before[0], after[2])), (second, (before[1], after[1]))):
        assert new["uptime_s"] >= old["uptime_s"] + (time.time() - began) - 30, \
            f"{node}'s daemon restarted"
        changes = [e for e in cell.events_file(node) if e["ts_ms"] >= began * 1000
                   and e["kind"] in MEMBERSHIP_KINDS]
        assert not changes, f"{node}: membership moved during the attack: {changes}"
    assert all(cell.sees_all_online(n) for n in cell.nodes)
    shown = tandem_in(cell.control, first, "status").stdout
    assert "Packets dropped (by reason): ring 0: " in shown and "bad_mac" in shown


def test_the_control_socket_refuses_a_non_root_user(cell: Cell) -> None:
    node = cell.nodes[0]

    def as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(cell.control.exec_argv(node, [*NOBODY, *tandem_argv("status")]),
                              capture_output=True, text=True, timeout=60)

    done = as_nobody()
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"tandem: error: permission denied on {SOCKET}: run as root\n"
    sh(cell.control, node, f"chmod 666 {SOCKET}")  # a careless chmod cannot open it up
    try:
        done = as_nobody()
    finally:
        sh(cell.control, node, f"chmod 600 {SOCKET}")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "tandem: error: permission denied: root only\n"
    assert tandem_in(cell.control, node, "status").returncode == 0  # root still gets in
