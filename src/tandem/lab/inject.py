"""Fire the bad packets of tandem.lab.attack at a live lab cell, at a bounded rate.

Run inside a lab namespace on the heartbeat networks (the client), never on the host:

    python -m tandem.lab.inject PLAN.json

PLAN.json: {"cluster": NAME, "port": P, "nodes": {ID: {RING: ADDRESS}},
"frames": [{"dest": ID, "hex": FRAME}], "per_ring": N, "rate": PACKETS_PER_S, "seed": S}
("frames": genuine frames recorded on the wire, see tandem.lab.wiretap). It prints one
JSON object: how many were sent, send errors, the seconds it took, and the drop reasons
the cell must count, per node and ring (tandem.lab.attack.tally).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tandem.lab.attack import Frame, Shot, plan_shots, tally
from tandem.wire.message import cluster_hash

TICK_S = 0.01


def shots_of(plan: dict[str, Any]) -> list[Shot]:
    """The shots a plan describes (the same for the same seed)."""
    nodes: dict[str, dict[str, str]] = plan["nodes"]
    rings: dict[int, list[int]] = {}
    for node, addresses in sorted(nodes.items(), key=lambda item: int(item[0])):
        for ring in addresses:
            rings.setdefault(int(ring), []).append(int(node))
    frames = [Frame(int(f["dest"]), bytes.fromhex(f["hex"])) for f in plan["frames"]]
    return plan_shots(random.Random(plan["seed"]), cluster_hash(plan["cluster"]), rings,
                      frames, int(plan["per_ring"]))


def fire(shots: Sequence[Shot], nodes: dict[str, dict[str, str]], port: int,
         rate: float) -> tuple[int, int]:
    """Send every shot, `rate` per second at most; (sent, send errors)."""
    burst = max(1, round(rate * TICK_S))
    sent = errors = 0
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, shot in enumerate(shots):
            if index % burst == 0:
                due = started + index / rate
                time.sleep(max(0.0, due - time.monotonic()))
            try:
                sock.sendto(shot.data, (nodes[str(shot.node)][str(shot.ring)], port))
                sent += 1
            except OSError:
                errors += 1
    return sent, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tandem.lab.inject",
                                     description="bad packets against a lab cell")
    parser.add_argument("plan", type=Path)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    shots = shots_of(plan)
    started = time.monotonic()
    sent, errors = fire(shots, plan["nodes"], int(plan["port"]), float(plan["rate"]))
    json.dump({"sent": sent, "send_errors": errors,
               "seconds": round(time.monotonic() - started, 3), "expected": tally(shots)},
              sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
