"""The daemons' timelines of a whole lab (tandem.lab.timeline reads and checks them per
node), and the evidence a cell leaves when something went wrong in it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchlib.labs import Lab
from tandem.common.events import EventKind
from tandem.lab import timeline
from tandem.lab.timeline import EVENTS_IN_NODE, Event

FENCE_KINDS = (EventKind.FENCE_START, EventKind.FENCE_DONE, EventKind.FENCE_FAILED)


def node_events(lab: Lab, node: str) -> list[Event]:
    """Every event the node's daemons recorded, across its reboots, oldest first."""
    return timeline.events_file(lab.record.name, node)


def inquorate_fences(lab: Lab) -> list[str]:
    """Safety rule 2 over every node's whole timeline."""
    return [line for node in lab.nodes
            for line in timeline.inquorate_fences(node_events(lab, node), node)]


def fences_against(lab: Lab, start: float, end: float) -> dict[str, list[str]]:
    """What each node's daemon did about fencing each target between two wall times:
    target -> ["started by node1", "done by node2", ...], in the order it happened."""
    found: list[tuple[int, str, str]] = []
    for node in lab.nodes:
        found += [(e["ts_ms"], str(e.get("node")), f"{e['kind'][6:]} by {node}")
                  for e in node_events(lab, node)
                  if e["kind"] in FENCE_KINDS and start * 1000 <= e["ts_ms"] <= end * 1000]
    story: dict[str, list[str]] = {}
    for _, target, what in sorted(found):
        story.setdefault(target, []).append(what)
    return story


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
