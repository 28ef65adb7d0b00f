"""A client that keeps asking a service for an answer, from the lab's client namespace,
and records when it got one: the client-visible outage of a failover. A new request
starts every 10 ms whatever the earlier ones are doing (each bounded by a 1 s timeout),
and each result is stamped when it completes.

The loop runs in a child process inside the client namespace (so every packet leaves
from there) and is bounded in count and time; it prints one JSON line per attempt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from tandem.lab.nodes import NodeControl
from tandem.lab.proc import end_child

PROBE_SCRIPT = r"""
import asyncio, json, sys, time
host, port, interval, limit, max_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
request = f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()

async def attempt():
    ok, body = False, ""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 1.0)  # HTTP/1.0: up to EOF
        writer.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
        body = rest[:80].decode(errors="replace")
    except (OSError, asyncio.TimeoutError) as exc:
        body = type(exc).__name__
    print(json.dumps({"t": time.time(), "ok": ok, "body": body}), flush=True)

async def main():
    # A new attempt every `interval`, whether or not the earlier ones finished, so an
    # attempt stuck on a dead owner never delays the first one that can succeed.
    end = time.monotonic() + max_s
    tasks = set()
    for _ in range(limit):
        if time.monotonic() > end:
            break
        task = asyncio.create_task(attempt())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(interval)
    if tasks:
        await asyncio.wait(tasks, timeout=3)

asyncio.run(main())
"""


@dataclass(frozen=True)
class Sample:
    """One attempt of the client."""

    at: float
    ok: bool
    body: str


class HttpProbe:
    """Background HTTP client in the client namespace."""

    def __init__(self, control: NodeControl, host: str, port: int = 80, *,
                 interval_s: float = 0.01, max_s: float = 120.0) -> None:
        limit = int(max_s / interval_s) + 1
        argv = control.exec_argv("client", [sys.executable, "-c", PROBE_SCRIPT, host,
                                            str(port), str(interval_s), str(limit), str(max_s)])
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.samples.append(Sample(data["t"], data["ok"], data["body"]))

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def wait_answer(self, after: float, timeout: float, body: str | None = None) -> Sample:
        """The first successful answer after wall time `after` (with `body` in it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for sample in self.snapshot():
                if sample.at > after and sample.ok and (body is None or body in sample.body):
                    return sample
            time.sleep(0.01)
        raise TimeoutError(f"no answer within {timeout:g} s")

    def wait_recovery(self, fault_at: float, timeout: float,
                      notice_s: float = 5.0) -> Sample | None:
        """The first answer after the client noticed the fault (its first failed attempt
        after `fault_at`); None if no answer came back within `timeout`. An answer that
        slipped in before the fault took effect does not count."""
        deadline = time.monotonic() + timeout
        notice_by = time.monotonic() + notice_s
        while time.monotonic() < deadline:
            after = [x for x in self.snapshot() if x.at > fault_at]
            failed = next((i for i, x in enumerate(after) if not x.ok), None)
            if failed is None and time.monotonic() > notice_by and after:
                return after[-1]  # the client never noticed anything
            if failed is not None:
                for sample in after[failed:]:
                    if sample.ok:
                        return sample
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        end_child(self._proc, self._reader)

    def __enter__(self) -> HttpProbe:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def outage_ms(samples: list[Sample], fault_at: float) -> float | None:
    """Client-visible outage: from the fault to the first successful answer after the
    first failed one (0 if the client never noticed; None if it never got through)."""
    after = [s for s in samples if s.at > fault_at]
    first_failure = next((i for i, s in enumerate(after) if not s.ok), None)
    if first_failure is None:
        return 0.0 if after else None
    for sample in after[first_failure:]:
        if sample.ok:
            return (sample.at - fault_at) * 1000
    return None
