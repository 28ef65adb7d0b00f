"""The record client, driven from the campaign: a writer that runs for the whole
campaign in the lab's client namespace, and read-backs that check that every record
the service acknowledged is still on its disk.

Both run recclient.py through `nsenter` into the client namespace, so every packet
leaves from there. The writer's loop is bounded by its own count and time limits.
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import threading
from dataclasses import dataclass

from benchlib.labs import Lab
from chaos.cells import CHAOS_DIR, RECORD_PORT, VIP
from tandem.lab.proc import end_child

CLIENT = str(CHAOS_DIR / "recclient.py")
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Attempt:
    """One PUT of the writer."""

    at: float
    number: int
    ok: bool


@dataclass(frozen=True)
class Check:
    """One read-back: how many acknowledged records were expected and which are gone."""

    acked: int
    on_disk: int
    missing: tuple[int, ...]
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.error


class RecordClient:
    """A writer sending numbered records through the service's virtual IP."""

    def __init__(self, lab: Lab, *, interval_s: float = 0.02, max_s: float = 4 * 3600.0,
                 ) -> None:
        self.lab = lab
        limit = int(max_s / interval_s) + 1
        argv = lab.control.exec_argv("client", [
            sys.executable, CLIENT, "write", VIP, str(RECORD_PORT), str(interval_s),
            str(limit), str(max_s)])
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self._attempts: list[Attempt] = []
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="records", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                data = json.loads(line)
                attempt = Attempt(float(data["t"]), int(data["n"]), bool(data["ok"]))
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                self._attempts.append(attempt)
                self._times.append(attempt.at)

    def since(self, at: float) -> list[Attempt]:
        """Attempts that completed after wall time `at`."""
        with self._lock:
            return self._attempts[bisect.bisect_right(self._times, at):]

    def acked(self) -> set[int]:
        with self._lock:
            return {a.number for a in self._attempts if a.ok}

    def counts(self) -> tuple[int, int]:
        """(attempts, acknowledged) so far."""
        with self._lock:
            return len(self._attempts), sum(1 for a in self._attempts if a.ok)

    def first_ack_after(self, at: float) -> float | None:
        return next((a.at for a in self.since(at) if a.ok), None)

    def outage(self, at: float) -> float | None:
        """Seconds from `at` to the first ack after the first failure that followed it;
        0 if nothing failed since; None if no ack came after the failure yet."""
        attempts = self.since(at)
        failed = next((i for i, a in enumerate(attempts) if not a.ok), None)
        if failed is None:
            return 0.0
        back = next((a.at for a in attempts[failed:] if a.ok), None)
        return None if back is None else back - at

    def verify(self) -> Check:
        """Read the service's records back; every record acknowledged before the read
        started must be among them."""
        expected = self.acked()
        try:
            done = subprocess.run(self.lab.control.exec_argv("client", [
                sys.executable, CLIENT, "read", VIP, str(RECORD_PORT)]),
                capture_output=True, text=True, timeout=READ_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return Check(len(expected), 0, (), "read-back timed out")
        if done.returncode != 0:
            return Check(len(expected), 0, (), f"read-back failed: {done.stderr.strip()}")
        on_disk = {int(w) for w in done.stdout.split() if w.isdigit()}
        return Check(len(expected), len(on_disk), tuple(sorted(expected - on_disk)))

    def problems(self) -> list[str]:
        """What the client itself saw go wrong: nothing (a failed PUT is only retried)."""
        return []

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        end_child(self._proc, self._reader)

    def __enter__(self) -> RecordClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
