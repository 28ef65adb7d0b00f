"""Shared pieces of the engine lab tests: a running cell with the split-brain watch and
the holder watch on all along, the cell's services as the daemons report them, and
checks on the daemons' timelines."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from labkit import cell_config, node_status, running_lab, states, unique_lab_name, wait_for
from tandem.lab.faults import NetworkFaults
from tandem.lab.holders import HolderSpec
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord
from tandem.lab.timeline import events_file, fence_starts, inquorate_fences
from tandem.lab.watch import HolderWatch, SplitBrainWatch

__all__ = ["Cell", "cell_of", "dummy_holders", "dummy_service", "fence_starts", "running_cell",
           "service", "started_on", "timelines_on_failure"]
WATCH_INTERVAL_S = 0.05


@dataclass
class Cell:
    """A lab cell whose daemons run, with handles to break it and its two watches."""

    record: LabRecord
    control: NodeControl
    faults: NetworkFaults
    watch: SplitBrainWatch
    holders: HolderWatch

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.control.config.nodes]

    def status(self, node: str) -> dict[str, Any] | None:
        return node_status(self.control, node)

    def state_of(self, observer: str, node: str) -> str | None:
        return states(self.status(observer)).get(node)

    def wait_state(self, observer: str, node: str, wanted: set[str],
                   timeout: float = 20) -> str:
        def seen() -> str | None:
            state = self.state_of(observer, node)
            return state if state in wanted else None

        return wait_for(seen, timeout, f"{observer} to see {node} {sorted(wanted)}")

    def sees_all_online(self, observer: str) -> bool:
        """`observer` is quorate and sees every node online."""
        status = self.status(observer)
        return status is not None and bool(status["quorate"]) \
            and set(states(status).values()) == {"online"}

    def power(self, node: str) -> str:
        return self.control.power(node).power

    def events_file(self, node: str) -> list[dict[str, Any]]:
        """A node's persisted timeline, readable even after it was powered off."""
        return events_file(self.record.name, node)

    def cut_rings(self, node: str) -> None:
        for network in ("admin", "backbone"):
            self.faults.cut(node, network)

    def check(self) -> None:
        """Both watches clean (and healthy), and no node fenced while inquorate."""
        self.watch.assert_clean()
        self.holders.assert_clean()
        found = [line for node in self.nodes
                 for line in inquorate_fences(self.events_file(node), node)]
        assert not found, "safety rule 2 broken:\n  " + "\n  ".join(found)


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


def dummy_holders(*services: str) -> list[HolderSpec]:
    """Holder specs for services made by `dummy_service`: held where `NAME-daemon` is."""
    return [HolderSpec(name, dummy_resource=f"{name}-daemon") for name in services]


@contextlib.contextmanager
def cell_of(record: LabRecord, holders: list[HolderSpec] | None = None,
            online_timeout: float = 20) -> Iterator[Cell]:
    """The running lab `record` as a Cell once every member sees every node online,
    watched all along; on a clean exit, `Cell.check` must pass."""
    control = NodeControl(record)
    cell = Cell(record, control, NetworkFaults(record, control.config),
                SplitBrainWatch(record.name, interval_s=WATCH_INTERVAL_S),
                HolderWatch(record.name, holders or [], interval_s=WATCH_INTERVAL_S))
    for observer in cell.nodes:
        wait_for(partial(cell.sees_all_online, observer), online_timeout,
                 f"{observer} to see every node online")
    with cell.watch, cell.holders, timelines_on_failure(cell):
        yield cell
    cell.check()


@contextlib.contextmanager
def running_cell(tmp_path: Path, stem: str, holders: list[HolderSpec] | None = None,
                 **config: Any) -> Iterator[Cell]:
    """A lab cell (`cell_config(**config)`) with tandemd in every node, all members
    online, the watches running (the holder watch looks for `holders`)."""
    name = unique_lab_name(stem)
    with running_lab(tmp_path, cell_config(name, **config), name, start=True) as record, \
            cell_of(record, holders) as cell:
        yield cell


def dummy_service(name: str = "web", *, failback: bool = False, recovery: str = "restart",
                  max_restarts: int = 2, domain: str = '["node1", "node2"]',
                  monitor: float = 0.5) -> str:
    """A service of two dummy resources; files in /run/tandem make them fail on demand."""
    return f"""
[[services]]
name = "{name}"
recovery = "{recovery}"
max_restarts = {max_restarts}
restart_window_s = 60
domain = {{ nodes = {domain}, restricted = true, failback = {str(failback).lower()} }}
[[services.resources]]
name = "{name}-data"
agent = "dummy"
[[services.resources]]
name = "{name}-daemon"
agent = "dummy"
monitor_interval_s = {monitor}
params = {{ fail_file = "/run/tandem/fail-{name}", stop_fail_file = "/run/tandem/stuck-{name}" }}
"""


def service(cell: Cell, observer: str, name: str = "web") -> dict[str, Any]:
    """The row of service `name` in `observer`'s status."""
    status = cell.status(observer)
    assert status is not None, f"{observer} does not answer"
    row: dict[str, Any] = next(s for s in status["services"] if s["name"] == name)
    return row


def started_on(cell: Cell, observer: str, node: str | None, name: str = "web") -> bool:
    """`observer` reports service `name` started on `node` (on any node if None)."""
    row = service(cell, observer, name)
    return bool(row["state"] == "started" and (node is None or row["owner"] == node))
