"""Checks over the daemons' own timelines, read from each node's persisted events file
(readable even while the node is powered off)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from chaos.labs import Lab
from tandem.common.events import EventKind

EVENTS_IN_NODE = "var/lib/tandem/events.jsonl"


def node_events(lab: Lab, node: str) -> list[dict[str, Any]]:
    """Every event the node's daemons recorded, across its reboots, oldest first."""
    path: Path = lab.names.node_root(node) / EVENTS_IN_NODE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a power loss
    return events


def inquorate_fences(lab: Lab) -> list[str]:
    """Safety rule 2 over whole timelines: a fence started while the node's daemon was
    not quorate (each daemon start begins inquorate)."""
    found = []
    for node in lab.nodes:
        quorate = False
        for event in node_events(lab, node):
            if event["kind"] == EventKind.DAEMON_START:
                quorate = False
            elif event["kind"] == EventKind.QUORUM:
                quorate = bool(event.get("data", {}).get("quorate"))
            elif event["kind"] == EventKind.FENCE_START and not quorate:
                found.append(f"{node} started fencing {event.get('node')} while inquorate "
                             f"(at {event['ts_ms']} ms)")
    return found


def fence_counts(lab: Lab, start: float, end: float) -> dict[str, int]:
    """Fence operations started against each node between two wall times, by any node."""
    counts: dict[str, int] = {}
    for node in lab.nodes:
        for event in node_events(lab, node):
            if event["kind"] == EventKind.FENCE_START \
                    and start * 1000 <= event["ts_ms"] <= end * 1000:
                target = str(event.get("node"))
                counts[target] = counts.get(target, 0) + 1
    return counts


def keep_evidence(lab: Lab, where: Path) -> Path:
    """Copy what each node's daemons and BMC left (timelines, logs, console) to `where`
    before the lab is removed; returns the directory written."""
    target = where / f"{lab.record.name}-{time.strftime('%H%M%S')}"
    for node in lab.nodes:
        root = lab.names.node_root(node)
        out = target / node
        out.mkdir(parents=True, exist_ok=True)
        for source in (root / EVENTS_IN_NODE, lab.names.console_log(node),
                       lab.names.bmc_log(node), *sorted((root / "var/log/tandem").glob("*"))):
            if source.is_file():
                shutil.copyfile(source, out / source.name)
    return target
