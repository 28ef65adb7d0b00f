"""Who holds each service, sampled continuously from outside the engine: the safety
check that does not trust what the daemons say.

A node holds the record service while a record server process lives in its network
namespace (a stopped one counts: a hung node still holds what it ran), and holds a
dummy service while the resource's state file exists in its private /run/tandem
(read through /proc/INIT/root, as the node's own tmpfs is not visible from the host).
Two holders at once is the split brain the engine must never allow.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos.labs import Lab
from tandem.lab.proc import netns_inode, pids_by_netns

DUMMY_DIR = "run/tandem/dummy"


@dataclass
class Overlap:
    """A service held by several nodes, from the first to the last sample showing it."""

    service: str
    nodes: tuple[str, ...]
    first_seen: float
    last_seen: float
    samples: int = 1

    def describe(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.first_seen))
        span = (self.last_seen - self.first_seen) * 1000
        return (f"{stamp} {self.service} held by {' and '.join(self.nodes)} "
                f"({self.samples} samples over {span:.0f} ms)")


@dataclass
class HolderSpec:
    """How to see that a node holds a service: a process whose command line contains
    `process_mark`, or a dummy resource's state file."""

    service: str
    process_mark: str = ""
    dummy_resource: str = ""


@dataclass
class HolderWatch:
    """Background sampler of service holders in one lab."""

    lab: Lab
    specs: list[HolderSpec]
    interval_s: float = 0.05
    overlaps: list[Overlap] = field(default_factory=list)
    samples: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: dict[tuple[str, tuple[str, ...]], Overlap] = {}
        self._thread = threading.Thread(target=self._run, name="holders", daemon=True)
        self._inodes = {inode: node for node in self.lab.nodes
                        if (inode := netns_inode(self.lab.names.node_ns(node))) is not None}

    def __enter__(self) -> HolderWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def holders(self) -> dict[str, list[str]]:
        """service -> nodes holding it, now."""
        marks = {s.process_mark: s.service for s in self.specs if s.process_mark}
        found: dict[str, set[str]] = {s.service: set() for s in self.specs}
        if marks:
            for pid, inode in pids_by_netns(set(self._inodes)):
                line = _cmdline(pid)
                for mark, service in marks.items():
                    if mark in line:
                        found[service].add(self._inodes[inode])
        for node in self.lab.nodes:
            init = self.lab.control.power(node).init_pid
            for spec in self.specs:
                if spec.dummy_resource and init and \
                        Path(f"/proc/{init}/root/{DUMMY_DIR}/{spec.dummy_resource}").exists():
                    found[spec.service].add(node)
        return {svc: sorted(nodes) for svc, nodes in found.items()}

    def snapshot(self) -> list[Overlap]:
        with self._lock:
            return list(self.overlaps)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._observe(self.holders())
            except (OSError, ValueError):  # a node changing under us: count it, go on
                self.errors += 1
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _observe(self, holders: dict[str, list[str]]) -> None:
        now = time.time()
        current = {(svc, tuple(nodes)) for svc, nodes in holders.items() if len(nodes) > 1}
        with self._lock:
            self.samples += 1
            for key in current:
                seen = self._open.get(key)
                if seen is None:
                    seen = self._open[key] = Overlap(key[0], key[1], now, now)
                    self.overlaps.append(seen)
                else:
                    seen.last_seen = now
                    seen.samples += 1
            for key in list(self._open):
                if key not in current:
                    del self._open[key]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
