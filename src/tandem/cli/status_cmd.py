"""`tandem status`, `tandem events`, `tandem fence`, `tandem node unblock`, `tandem keygen`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from tandem.cli.client import call, cell_status
from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json, progress_line, table
from tandem.common.status import CellStatus, NodeStatus, QdiskStatus


def register(sub: Sub) -> None:
    status = sub.add_parser("status", help="the cell as this node sees it")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    events = sub.add_parser("events", help="timeline of membership, quorum and fencing")
    events.add_argument("--json", action="store_true")
    events.add_argument("--last", type=int, default=0, metavar="N", help="only the last N")
    events.add_argument("--follow", action="store_true", help="keep printing new events")
    events.set_defaults(func=cmd_events)

    fence = sub.add_parser("fence", help="fence a node now (`fence ack NODE` confirms a "
                                         "manual fence; `fence history [NODE]`)")
    fence.add_argument("words", nargs="+", metavar="NODE | ack NODE | history [NODE]")
    fence.add_argument("--timeout", type=float, default=120.0, metavar="S")
    fence.add_argument("--json", action="store_true")
    fence.set_defaults(func=cmd_fence)

    node = sub.add_parser("node", help="node operations")
    node.set_defaults(group_parser=node)
    node_cmds = node.add_subparsers(title="node commands", metavar="COMMAND")
    unblock = node_cmds.add_parser("unblock", help="lift wait-for-all on this node (you "
                                                   "vouch that no absent peer runs anything)")
    unblock.set_defaults(func=cmd_unblock)

    keygen = sub.add_parser("keygen", help="write a new cluster key file (mode 0600)")
    keygen.add_argument("path", nargs="?", default="/etc/tandem/cluster.key")
    keygen.add_argument("--force", action="store_true", help="replace an existing key")
    keygen.set_defaults(func=cmd_keygen)


def _member_flags(node: NodeStatus, status: CellStatus) -> str:
    flags = [node.state.capitalize()]
    if node.local:
        flags.append("Local")
    if status.coordinator == node.name:
        flags.append("Coordinator")
    return ", ".join(flags)


def render_status(status: CellStatus) -> None:
    """The clustat-like view of the cell."""
    quorum = status.quorum
    stamp = time.strftime("%a %b %d %H:%M:%S %Y")
    print(f"Cluster Status for {status.cluster} @ {stamp}")
    print(f"Member Status: {'Quorate' if status.quorate else 'Inquorate'} "
          f"({quorum.reason})")
    print()
    table(["Member Name", "ID", "Status", "Rings", "Since"],
          [[n.name, n.id, _member_flags(n, status),
            " ".join(f"{k}:{v}" for k, v in n.rings.items()) or "-",
            time.strftime("%H:%M:%S", time.localtime(n.since))]
           for n in status.nodes])
    if status.qdisk:
        _render_qdisk(status.qdisk)
    rings = ", ".join(f"{r.network} (ring {r.ring}) {r.state}" for r in status.rings)
    print(f"\nRings: {rings}" + ("  -- redundancy degraded" if status.redundancy_degraded
                                 else ""))
    if status.services:
        print()
        table(["Service", "Owner", "Last owner", "State", "Note"],
              [[row.name, row.owner or "-", row.last_owner or "-", row.state,
                row.note or ""] for row in status.services])
    if status.fencing:
        print(f"Fencing in progress: {', '.join(status.fencing)}")
    for device in status.fence_devices:
        if device.state == "failed":
            print(f"FENCE DEVICE FAILED: {device.device} (level {device.level}) for "
                  f"{device.node}: {device.detail}")
    if status.manual_fence_pending:
        print("Waiting for an operator: tandem fence ack "
              + " | ".join(status.manual_fence_pending))
    drops = drop_lines(status)
    if drops:
        print("\nPackets dropped (by reason): " + "; ".join(drops))
    storage = storage_line(status)
    if storage:
        print(storage)


def storage_line(status: CellStatus) -> str:
    """One line when the storage watch has something to say (errors seen, or off)."""
    watch = status.storage
    if watch is None or (watch.kernel_log and not watch.reported):
        return ""
    if not watch.reported:
        return "Storage errors: kernel log not watched (tandem storage-error only)"
    return (f"Storage errors: {watch.reported} reported, {watch.relevant} on devices of "
            f"services here; last: {watch.last_error or '(from tandem storage-error)'}")


def drop_lines(status: CellStatus) -> list[str]:
    """"ring 0: bad_mac 12, duplicate 3" per ring that dropped anything, largest first."""
    lines = []
    for ring, counters in sorted(status.transport.items(), key=lambda item: int(item[0])):
        drops = sorted(((name.removeprefix("drop_"), count) for name, count in counters.items()
                        if name.startswith("drop_") and count),
                       key=lambda item: (-item[1], item[0]))
        if drops:
            lines.append(f"ring {ring}: " + ", ".join(f"{n} {c}" for n, c in drops))
    return lines


def _render_qdisk(qdisk: QdiskStatus) -> None:
    nodes = ", ".join(f"{n.name}:{'alive' if n.alive else 'dead'}/{n.score}"
                      for n in qdisk.nodes)
    print(f"Quorum Disk {qdisk.device}: {'online' if qdisk.online else 'OFFLINE'}"
          f", master {qdisk.master or 'none'}, {qdisk.votes} vote(s), "
          f"score {qdisk.my_score}/{qdisk.max_score}"
          + (f", {nodes}" if nodes else "") + (f" ({qdisk.error})" if qdisk.error else ""))


def cmd_status(args: argparse.Namespace) -> int:
    status = cell_status()
    if args.json:
        print_json(status.to_json())
    else:
        render_status(status)
    return 0


def _event_line(event: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event["ts_ms"] / 1000))
    who = " ".join(x for x in (event.get("node"), event.get("service")) if x)
    return f"{stamp}.{event['ts_ms'] % 1000:03d}  {event['kind']:<14} {who:<12} " \
           f"{event['detail']}"


def cmd_events(args: argparse.Namespace) -> int:
    answer = call("events", {"limit": args.last or None})
    if args.json:
        print_json(answer["events"])
        return 0
    for event in answer["events"]:
        print(_event_line(event), flush=True)
    last = answer["last"]
    while args.follow:
        time.sleep(0.2)
        answer = call("events", {"since": last})
        for event in answer["events"]:
            print(_event_line(event), flush=True)
        last = answer["last"]
    return 0


def cmd_fence(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] == "ack" and len(words) == 2:
        print(call("fence_ack", {"node": words[1]}))
        return 0
    if words[0] == "history" and len(words) <= 2:
        attempts = call("fence_history", {"node": words[1] if len(words) == 2 else None})
        if args.json:
            print_json(attempts)
        else:
            table(["started", "node", "level", "device", "action", "outcome", "ms", "error"],
                  [[time.strftime("%H:%M:%S", time.localtime(a["started_at"])), a["node"],
                    a["level"], a["device"], a["action"], a["outcome"], a["duration_ms"],
                    a["error"] or ""] for a in attempts])
        return 0
    if len(words) != 1:
        raise UsageError("usage: tandem fence NODE | fence ack NODE | fence history [NODE]")
    progress_line(f"fencing {words[0]} (waits until its power reads off)")
    result = call("fence", {"node": words[0]}, timeout=args.timeout)
    if args.json:
        print_json(result)
    else:
        print(f"{result['node']}: {'fenced' if result['success'] else 'NOT fenced'} - "
              f"{result['message']} ({result['duration_ms']} ms)")
    return 0 if result["success"] else 1


def cmd_unblock(_: argparse.Namespace) -> int:
    print(call("unblock"))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from tandem.wire import generate_key  # only keygen needs the wire package

    generate_key(args.path, force=args.force)
    print(f"wrote a new cluster key to {args.path} (mode 0600); copy it to every node")
    return 0
