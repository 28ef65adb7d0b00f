"""Watches: background samplers of a lab that record every moment a safety condition
was broken, for the whole duration of a test or a campaign.

- The split-brain watch: a shared disk mounted in two nodes, or one address configured
  on two nodes. On real shared storage either would be data corruption; in the lab one
  kernel backs all nodes, so it would go unnoticed unless something looks.
- The holder watch: a service held by two nodes at once (see tandem.lab.holders), seen
  from outside the engine.

A watch is only as good as its samples. Each one counts the samples it took and the
ones that failed (a node changing under the sampler), and is judged unhealthy if it
took none or if more than MAX_FAILED_FRACTION of its attempts failed: a watch that
mostly failed to look proves nothing, even if it saw no violation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from tandem.lab.builder import load_lab
from tandem.lab.holders import Holders, HolderSampler, HolderSpec
from tandem.lab.sampler import LabSampler, Sample

# One failed sample in 20 is noise (a process that exits while its mounts are read); more
# means the watch was mostly blind, and its silence is no evidence.
MAX_FAILED_FRACTION = 0.05

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
Conflict = tuple[str, str, tuple[str, ...]]  # (kind, subject, nodes)


class Sampler(Protocol[S_co]):
    """Where a watch gets its samples from (the lab's, or a fake in unit tests)."""

    def sample(self) -> S_co: ...

    def close(self) -> None: ...


@dataclass
class Violation:
    """One broken condition, from the first to the last sample that showed it."""

    kind: str  # "double-mount", "duplicate-address" or "double-holder"
    subject: str  # disk name, address or service
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


class Watch(Generic[S]):
    """Samples in a background thread (a context manager, or start()/stop()) and keeps
    every violation `conflicts` finds in the samples."""

    def __init__(self, title: str, sampler: Sampler[S],
                 conflicts: Callable[[S], list[Conflict]], *, interval_s: float = 0.05,
                 on_violation: Callable[[Violation], None] | None = None) -> None:
        self.title = title
        self.interval_s = interval_s
        self.on_violation = on_violation
        self.violations: list[Violation] = []
        self.samples = 0  # samples taken
        self.failed = 0  # attempts that raised
        self.last_error = ""
        self._sampler = sampler
        self._conflicts = conflicts
        self._open: dict[Conflict, Violation] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=title, daemon=True)

    @property
    def errors(self) -> int:
        """Failed samples (the name `tandem lab watch` reports)."""
        return self.failed

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sampler.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def check_now(self) -> list[Violation]:
        """Take one sample synchronously (also usable without the thread)."""
        self._take()
        return self.snapshot()

    def snapshot(self) -> list[Violation]:
        with self._lock:
            return list(self.violations)

    def health(self) -> str | None:
        """Why this watch's silence proves nothing (None when it looked well enough)."""
        attempts = self.samples + self.failed
        if self.samples == 0:
            return f"the {self.title} took no sample" + self._last_error()
        if self.failed > MAX_FAILED_FRACTION * attempts:
            return (f"the {self.title} failed {self.failed} of {attempts} samples (more "
                    f"than {MAX_FAILED_FRACTION:.0%})" + self._last_error())
        return None

    def problems(self) -> list[str]:
        """Every violation seen so far, and the watch's own failure if it failed."""
        found = [v.describe() for v in self.snapshot()]
        health = self.health()
        return [*found, health] if health else found

    def summary(self) -> str:
        """One line: samples, failed samples, violations."""
        return (f"{self.title}: {self.samples} samples, {self.failed} failed, "
                f"{len(self.violations)} violation(s)")

    def assert_clean(self) -> None:
        """Raise AssertionError listing every violation, or why the watch is blind."""
        found = self.problems()
        if found:
            raise AssertionError(f"{self.summary()}:\n  " + "\n  ".join(found))

    def _last_error(self) -> str:
        return f"; last error: {self.last_error}" if self.last_error else ""

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._take()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _take(self) -> None:
        try:
            sample = self._sampler.sample()
        except Exception as exc:  # a node changing under us: count it, keep watching
            with self._lock:
                self.failed += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self._observe(self._conflicts(sample))

    def _observe(self, conflicts: list[Conflict]) -> None:
        now = time.time()
        current = set(conflicts)
        with self._lock:
            self.samples += 1
            for key in conflicts:
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


def _shared(owners: dict[str, set[str]], kind: str) -> list[Conflict]:
    return [(kind, subject, tuple(sorted(nodes)))
            for subject, nodes in sorted(owners.items()) if len(nodes) > 1]


def find_conflicts(sample: Sample) -> list[Conflict]:
    """Every disk mounted, and every address configured, in more than one node. Pure."""
    disks: dict[str, set[str]] = {}
    for node, mounts in sample.mounts.items():
        for mount in mounts:
            disks.setdefault(mount.disk, set()).add(node)
    addresses: dict[str, set[str]] = {}
    for node, addrs in sample.addresses.items():
        for _, address, _ in addrs:
            addresses.setdefault(address, set()).add(node)
    return _shared(disks, "double-mount") + _shared(addresses, "duplicate-address")


def double_holders(holders: Holders) -> list[Conflict]:
    """Every service held by more than one node. Pure."""
    return [("double-holder", service, tuple(nodes))
            for service, nodes in sorted(holders.items()) if len(nodes) > 1]


class SplitBrainWatch(Watch[Sample]):
    """Double mounts and duplicated addresses in lab `lab` (the current lab if None)."""

    def __init__(self, lab: str | None = None, interval_s: float = 0.05,
                 on_violation: Callable[[Violation], None] | None = None, *,
                 sampler: Sampler[Sample] | None = None) -> None:
        if sampler is None:
            record, config = load_lab(lab)
            lab, sampler = record.name, LabSampler(record, config)
        self.lab = lab
        super().__init__(f"split-brain watch of {lab}", sampler, find_conflicts,
                         interval_s=interval_s, on_violation=on_violation)


class HolderWatch(Watch[Holders]):
    """Services held by two nodes at once in lab `lab`, each seen as `specs` says."""

    def __init__(self, lab: str | None, specs: list[HolderSpec], interval_s: float = 0.05,
                 on_violation: Callable[[Violation], None] | None = None, *,
                 sampler: Sampler[Holders] | None = None) -> None:
        if sampler is None:
            record, config = load_lab(lab)
            lab, sampler = record.name, HolderSampler(record, config, specs)
        self.lab = lab
        self.specs = list(specs)
        super().__init__(f"holder watch of {lab}", sampler, double_holders,
                         interval_s=interval_s, on_violation=on_violation)

    def holders(self) -> Holders:
        """Who holds each service now (one sample, outside the counts)."""
        return self._sampler.sample()
