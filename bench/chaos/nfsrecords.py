"""The NFS cell's client, driven from the campaign: nfswriter.py in the lab's client
namespace writes numbered records through one NFSv3 file handle on the service address
for the whole cell, and reads every acknowledged one back when asked.

It answers the campaign as the record client does (first acknowledgement after a time,
the client's outage, read-backs); a write on a hard mount does not fail, it waits, so an
outage is a write that took longer than GAP_S, or one still waiting.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from benchlib.labs import Lab
from chaos.cells import CHAOS_DIR, NFS_ADDRESS, NFS_MOUNT
from chaos.records import Check
from tandem.lab.proc import end_child

WRITER = str(CHAOS_DIR / "nfswriter.py")
GAP_S = 1.0  # a write this slow waited for the service (libnfs's own timeout is 1 s)
VERIFY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Ack:
    """One record acknowledged: committed on the server's disk."""

    first_try: float
    at: float
    number: int


class NfsRecordClient:
    """A writer through one NFS file handle, and its read-backs."""

    def __init__(self, lab: Lab, *, interval_s: float = 0.05, max_s: float = 4 * 3600.0,
                 ) -> None:
        argv = lab.control.exec_argv("client", [
            sys.executable, WRITER, "--server", NFS_ADDRESS, "--export", NFS_MOUNT,
            "--file", f"records-{time.monotonic_ns()}", "--interval", str(interval_s),
            "--max-records", str(int(max_s / interval_s) + 1), "--max-s", str(max_s)])
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
        self._acks: list[Ack] = []
        self._times: list[float] = []
        self._events: list[dict[str, Any]] = []
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="nfs-records", daemon=True)
        self._reader.start()
        self._told = 0  # events already handed out by `problems`

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if data.get("event") == "verified":
                self._answers.put(data)
            elif "event" in data:
                with self._lock:
                    self._events.append(data)
            elif "n" in data:
                with self._lock:
                    self._acks.append(Ack(float(data["t0"]), float(data["t"]), int(data["n"])))
                    self._times.append(float(data["t"]))

    def since(self, at: float) -> list[Ack]:
        with self._lock:
            return self._acks[bisect.bisect_right(self._times, at):]

    def counts(self) -> tuple[int, int]:
        """(writes begun, acknowledged): a write still waiting is the difference."""
        with self._lock:
            acked = len(self._acks)
        return acked + (1 if self.alive() else 0), acked

    def first_ack_after(self, at: float) -> float | None:
        return next((a.at for a in self.since(at)), None)

    def outage(self, at: float) -> float | None:
        """Seconds from `at` to the end of the first write after it that waited longer
        than GAP_S; 0 if none did; None while a write has been waiting that long."""
        slow = next((a for a in self.since(at) if a.at - a.first_try > GAP_S), None)
        if slow is not None:
            return slow.at - at
        with self._lock:
            last = self._times[-1] if self._times else at
        return None if time.time() - max(last, at) > GAP_S else 0.0

    def pauses(self, start: float, end: float) -> float:
        """The longest write that ended between two wall times (seconds)."""
        with self._lock:
            return max((a.at - a.first_try for a in self._acks if start <= a.at <= end),
                       default=0.0)

    def problems(self) -> list[str]:
        """Stale handles and errors not yet handed out: each one is a violation."""
        with self._lock:
            new, self._told = self._events[self._told:], len(self._events)
        return [f"NFS client: {e.get('event')} ({e.get('error', '')})" for e in new]

    def verify(self) -> Check:
        """Ask the writer to read back every record it had acknowledged."""
        with self._lock:
            expected = len(self._acks)
        while not self._answers.empty():  # an answer to an earlier, timed-out request
            self._answers.get_nowait()
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write("verify\n")
            self._proc.stdin.flush()
            answer = self._answers.get(timeout=VERIFY_TIMEOUT_S)
        except (OSError, queue.Empty):
            return Check(expected, 0, (), "NFS read-back did not answer"
                         + ("" if self.alive() else " (the writer has ended)"))
        records = int(answer["records"])
        bad = tuple(int(n) for n in answer.get("bad", []))
        missing = bad + tuple(range(records, expected))  # acked but beyond the read
        return Check(expected, records - int(answer.get("bad_count", len(bad))), missing)

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        end_child(self._proc, self._reader)

    def __enter__(self) -> NfsRecordClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
