"""Heuristics: commands that decide whether this node deserves to count.

A quorum disk alone says "this node can write the disk"; a node that can reach the disk
but has lost its uplink should still not win a partition. Each heuristic is a command
(ping of a gateway, a check script) run periodically with a timeout, in its own process
group that is killed on timeout (tandem.util.procrun). The node's score is the sum of
the scores of the heuristics that currently pass; it passes when it reaches the
threshold (by default more than half of the maximum). A heuristic counts only once it
has passed, and it stops counting after `tko` failures in a row.

The runner lives in a thread of its own with a private event loop, so slow or hung
commands never delay the disk cycle or the daemon.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tandem.util.procrun import CommandError, run_command

STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Heuristic:
    """A command whose success earns `score` points; run every `interval_s`."""

    command: tuple[str, ...]
    score: int = 1
    interval_s: float = 2.0
    timeout_s: float = 1.0
    tko: int = 1

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("a heuristic needs a command")
        if self.score < 1 or self.tko < 1 or self.interval_s <= 0 or self.timeout_s <= 0:
            raise ValueError("heuristic score, tko, interval and timeout must be positive")


@dataclass(frozen=True)
class HeuristicResult:
    """The state of one heuristic after its latest run."""

    passed: bool
    ever_passed: bool
    failures: int          # consecutive failures up to now
    detail: str            # why it failed (empty when it passed)
    at: float              # wall-clock time of the run

    def counts(self, tko: int) -> bool:
        """Whether the heuristic's score counts now."""
        return self.ever_passed and (self.passed or self.failures < tko)


@dataclass(frozen=True)
class Score:
    """A node's score, the most it could have, and whether it passes."""

    score: int
    max_score: int
    required: int
    ok: bool


def required_score(max_score: int, min_score: int = 0) -> int:
    """The passing threshold: `min_score` if set, else more than half of the maximum."""
    if min_score > 0:
        return min_score
    return max_score // 2 + 1 if max_score else 0


def compute_score(heuristics: Sequence[Heuristic],
                  results: Mapping[int, HeuristicResult], min_score: int = 0) -> Score:
    """Fold the latest results (by heuristic index; missing = not run yet) into a score."""
    total = sum(h.score for h in heuristics)
    got = sum(h.score for i, h in enumerate(heuristics)
              if (r := results.get(i)) is not None and r.counts(h.tko))
    need = required_score(total, min_score)
    return Score(got, total, need, got >= need)


def next_result(previous: HeuristicResult | None, passed: bool, detail: str,
                at: float) -> HeuristicResult:
    """The result after one more run."""
    ever = passed or (previous is not None and previous.ever_passed)
    failures = 0 if passed else (previous.failures if previous else 0) + 1
    return HeuristicResult(passed, ever, failures, "" if passed else detail, at)


class HeuristicsRunner:
    """Runs every heuristic periodically in a background thread; score() is thread-safe
    and never blocks on a command."""

    def __init__(self, heuristics: Sequence[Heuristic], min_score: int = 0) -> None:
        self.heuristics = tuple(heuristics)
        self.min_score = min_score
        self._results: dict[int, HeuristicResult] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def score(self) -> Score:
        with self._lock:
            results = dict(self._results)
        return compute_score(self.heuristics, results, self.min_score)

    def results(self) -> list[tuple[Heuristic, HeuristicResult | None]]:
        """Each heuristic with its latest result (None before its first run)."""
        with self._lock:
            return [(h, self._results.get(i)) for i, h in enumerate(self.heuristics)]

    def start(self) -> None:
        """Start running the heuristics (nothing to do without any)."""
        if not self.heuristics or self._thread is not None:
            return
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="qdisk-heuristics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop, killing any command still running; False if the thread did not end."""
        thread = self._thread
        if thread is None:
            return True
        if self._ready.wait(timeout) and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout)
        return not thread.is_alive()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        tasks = [asyncio.create_task(self._probe(i, h)) for i, h in enumerate(self.heuristics)]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe(self, index: int, heuristic: Heuristic) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            passed, detail = await _run_once(heuristic)
            with self._lock:
                self._results[index] = next_result(self._results.get(index), passed,
                                                   detail, time.time())
            try:
                await asyncio.wait_for(self._stop.wait(), heuristic.interval_s)
            except TimeoutError:
                continue


async def _run_once(heuristic: Heuristic) -> tuple[bool, str]:
    try:
        result = await run_command(heuristic.command, timeout_s=heuristic.timeout_s)
    except CommandError as exc:
        return False, str(exc)
    return result.ok, "" if result.ok else result.tail()
