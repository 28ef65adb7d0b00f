"""The daemons' persisted timelines, read from outside, and the safety checks run over
them after a test or a campaign.

Each node's daemon appends its events to /var/lib/tandem/events.jsonl in the node's
private directory; the file survives power loss and reboots (it holds every run of the
daemon, one after the other) and can be read from the host while the node is off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tandem.common.events import EventKind
from tandem.lab.names import LabNames

EVENTS_IN_NODE = "var/lib/tandem/events.jsonl"
Event = dict[str, Any]


def events_path(lab: str, node: str) -> Path:
    """Host path of a node's events file."""
    return LabNames(lab).node_root(node) / EVENTS_IN_NODE


def parse_events(lines: Iterable[str]) -> list[Event]:
    """Events of an events file, oldest first; a line cut short by a power loss (or
    otherwise unreadable) is skipped."""
    events = []
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "kind" in event and "ts_ms" in event:
            events.append(event)
    return events


def events_file(lab: str, node: str) -> list[Event]:
    """Every event the node's daemons recorded, across its reboots, oldest first."""
    path = events_path(lab, node)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return parse_events(text.splitlines())


def inquorate_fences(events: Iterable[Event], node: str) -> list[str]:
    """Safety rule 2 over a node's whole timeline: every fence it started while its
    daemon was not quorate. Each daemon start begins inquorate, whatever the previous
    run of the daemon last knew (the file keeps every run, one after the other)."""
    found = []
    quorate = False
    for event in events:
        kind = event["kind"]
        if kind == EventKind.DAEMON_START:
            quorate = False
        elif kind == EventKind.QUORUM:
            quorate = bool(event.get("data", {}).get("quorate"))
        elif kind == EventKind.FENCE_START and not quorate:
            found.append(f"{node} started fencing {event.get('node')} while inquorate "
                         f"(at {event['ts_ms']} ms)")
    return found


def fence_starts(events: Iterable[Event]) -> list[str]:
    """Targets of every fence started, in order."""
    return [str(e.get("node")) for e in events if e["kind"] == EventKind.FENCE_START]
