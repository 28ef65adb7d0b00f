"""Shared pieces of the engine lab tests: a running cell with the split-brain watch on,
and checks on the daemons' timelines."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import cell_config, node_status, running_lab, states, unique_lab_name, wait_for
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord
from tandem.lab.watch import SplitBrainWatch


@dataclass
class Cell:
    """A lab cell whose daemons run, with handles to break it."""

    record: LabRecord
    control: NodeControl
    faults: NetworkFaults
    watch: SplitBrainWatch

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.control.config.nodes]

    def status(self, node: str) -> dict[str, Any] | None:
        return node_status(self.control, node)

    def state_of(self, observer: str, node: str) -> str | None:
        return states(self.status(observer)).get(node)

    def wait_state(self, observer: str, node: str, wanted: set[str],
                   timeout: float = 20) -> str:
        return wait_for(lambda: (s := self.state_of(observer, node)) in wanted and s,
                        timeout, f"{observer} to see {node} {sorted(wanted)}") or ""

    def power(self, node: str) -> str:
        return self.control.power(node).power

    def events_file(self, node: str) -> list[dict[str, Any]]:
        """A node's persisted timeline, readable even after it was powered off."""
        path = LabNames(self.record.name).node_root(node) / "var/lib/tandem/events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def cut_rings(self, node: str) -> None:
        for network in ("admin", "backbone"):
            self.faults.cut(node, network)


@contextlib.contextmanager
def timelines_on_failure(cell: Cell, last: int = 80) -> Iterator[None]:
    """If the test fails, print every node's timeline (pytest shows it with the failure):
    the lab, and with it the events files, is gone by the time anyone reads the report."""
    try:
        yield
    except BaseException:
        for node in cell.nodes:
            print(f"--- timeline of {node} (last {last} events)")
            for event in cell.events_file(node)[-last:]:
                print(event["ts_ms"], event["kind"], event.get("node") or "",
                      event.get("service") or "", event.get("detail", ""))
        raise


def assert_fenced_only_when_quorate(events: list[dict[str, Any]], node: str) -> None:
    """Safety rule 2, checked over a whole timeline: no fence started while inquorate."""
    quorate = False
    for event in events:
        if event["kind"] == "quorum":
            quorate = bool(event["data"].get("quorate")) if "data" in event \
                else bool(event.get("quorate"))
        if event["kind"] == "fence_start":
            assert quorate, f"{node} started fencing {event['node']} while inquorate"


def fence_starts(events: list[dict[str, Any]]) -> list[str]:
    return [e["node"] for e in events if e["kind"] == "fence_start"]


@contextlib.contextmanager
def running_cell(tmp_path: Path, stem: str, **config: Any) -> Iterator[Cell]:
    """A lab cell with tandemd in every node, all members online, the watch running.
    On exit the watch must be clean and no node may have fenced while inquorate."""
    name = unique_lab_name(stem)
    with running_lab(tmp_path, cell_config(name, **config), name, start=True) as record:
        control = NodeControl(record)
        cell = Cell(record, control, NetworkFaults(record, control.config),
                    SplitBrainWatch(record.name, interval_s=0.05))
        for observer in cell.nodes:
            wait_for(lambda o=observer: (s := cell.status(o)) and s["quorate"]
                     and set(states(s).values()) == {"online"}, 20,
                     f"{observer} to see every node online")
        with cell.watch, timelines_on_failure(cell):
            yield cell
        cell.watch.assert_clean()
        for node in cell.nodes:
            assert_fenced_only_when_quorate(cell.events_file(node), node)
