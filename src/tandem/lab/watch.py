"""The split-brain watch: samples a lab continuously and records every moment when a
shared disk is mounted in two nodes, or one address is configured on two nodes.

On real shared storage either would be data corruption; in the lab one kernel backs all
nodes, so it would go unnoticed unless something looks. Tests keep a watch running for
their whole duration and fail if it saw anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tandem.lab.builder import load_lab
from tandem.lab.sampler import LabSampler, Sample


@dataclass
class Violation:
    """One split-brain condition, from the first to the last sample that showed it."""

    kind: str  # "double-mount" or "duplicate-address"
    subject: str  # disk name or address
    nodes: tuple[str, ...]
    first_seen: float
    last_seen: float
    samples: int = 1

    def describe(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.first_seen))
        millis = int((self.first_seen % 1) * 1000)
        span = (self.last_seen - self.first_seen) * 1000
        return (f"{stamp}.{millis:03d} {self.kind}: {self.subject} on "
                f"{' and '.join(self.nodes)} (seen {self.samples} times over {span:.0f} ms)")


def find_conflicts(sample: Sample) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, subject, nodes) for every conflict in one sample. Pure."""
    conflicts = []
    disk_owners: dict[str, set[str]] = {}
    for node, mounts in sample.mounts.items():
        for mount in mounts:
            disk_owners.setdefault(mount.disk, set()).add(node)
    for disk, nodes in sorted(disk_owners.items()):
        if len(nodes) > 1:
            conflicts.append(("double-mount", disk, tuple(sorted(nodes))))
    addr_owners: dict[str, set[str]] = {}
    for node, addrs in sample.addresses.items():
        for _, address, _ in addrs:
            addr_owners.setdefault(address, set()).add(node)
    for address, nodes in sorted(addr_owners.items()):
        if len(nodes) > 1:
            conflicts.append(("duplicate-address", address, tuple(sorted(nodes))))
    return conflicts


@dataclass
class SplitBrainWatch:
    """Background sampler of one lab. Use as a context manager or start()/stop()."""

    lab: str | None = None
    interval_s: float = 0.05
    on_violation: Callable[[Violation], None] | None = None
    violations: list[Violation] = field(default_factory=list)
    samples: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        record, config = load_lab(self.lab)
        self.lab = record.name
        self._sampler = LabSampler(record, config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{record.name}",
                                        daemon=True)
        self._open: dict[tuple[str, str, tuple[str, ...]], Violation] = {}
        self._lock = threading.Lock()

    def start(self) -> SplitBrainWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sampler.close()

    def __enter__(self) -> SplitBrainWatch:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def check_now(self) -> list[Violation]:
        """Take one sample synchronously (also usable without the thread)."""
        self._observe(self._sampler.sample())
        return self.snapshot()

    def snapshot(self) -> list[Violation]:
        with self._lock:
            return list(self.violations)

    def assert_clean(self) -> None:
        """Raise AssertionError listing every violation seen so far."""
        found = self.snapshot()
        if found:
            raise AssertionError("split brain seen by the lab watch:\n  " +
                                 "\n  ".join(v.describe() for v in found))
        if self.samples == 0:
            raise AssertionError("the lab watch took no sample")

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._observe(self._sampler.sample())
            except Exception:  # a node changing under us; count it, keep watching
                self.errors += 1
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _observe(self, sample: Sample) -> None:
        now = time.time()
        current = set(find_conflicts(sample))
        with self._lock:
            self.samples += 1
            for key in current:
                violation = self._open.get(key)
                if violation is None:
                    violation = Violation(key[0], key[1], key[2], now, now)
                    self._open[key] = violation
                    self.violations.append(violation)
                    if self.on_violation is not None:
                        self.on_violation(violation)
                else:
                    violation.last_seen = now
                    violation.samples += 1
            for key in list(self._open):
                if key not in current:
                    del self._open[key]
