"""A second client, beside the lab's HttpProbe: it starts a new HTTP request every
10 ms whether or not the previous ones have finished.

The lab's probe asks one request at a time with a 0.2 s connect timeout, so a request
sent just after the fault waits out that timeout even if the service came back at once:
its figure includes 0-200 ms of waiting. This one never waits for an earlier request,
so it tells when the service was really back (to within ~10 ms). The benchmarks report
both; the lab's stays the headline figure because `tandem demo` shows that one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass

from tandem.lab.nodes import NodeControl

SCRIPT = r"""
import asyncio, json, sys, time
host, port, interval, limit, max_s, timeout = (sys.argv[1], int(sys.argv[2]),
    float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
request = f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()

async def attempt():
    start, ok = time.time(), False
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        ok = b" 200 " in data.split(b"\r\n", 1)[0]
    except (OSError, asyncio.TimeoutError):
        pass
    print(json.dumps({"start": start, "end": time.time(), "ok": ok}), flush=True)

async def main():
    tasks, end = [], time.monotonic() + max_s
    for _ in range(limit):
        if time.monotonic() > end:
            break
        tasks.append(asyncio.create_task(attempt()))
        await asyncio.sleep(interval)
    await asyncio.gather(*tasks)

asyncio.run(main())
"""


@dataclass(frozen=True)
class Attempt:
    start: float
    end: float
    ok: bool


class OverlapProbe:
    """Background client in the lab's client namespace; bounded in count and time."""

    def __init__(self, control: NodeControl, host: str, port: int = 80, *,
                 interval_s: float = 0.01, max_s: float = 120.0,
                 timeout_s: float = 1.0) -> None:
        limit = int(max_s / interval_s) + 1
        argv = control.exec_argv("client", [sys.executable, "-c", SCRIPT, host, str(port),
                                            str(interval_s), str(limit), str(max_s),
                                            str(timeout_s)])
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self._attempts: list[Attempt] = []
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
                self._attempts.append(Attempt(data["start"], data["end"], data["ok"]))

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return sorted(self._attempts, key=lambda a: a.start)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)

    def __enter__(self) -> OverlapProbe:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def back_after_ms(attempts: list[Attempt], fault_at: float) -> float | None:
    """From the fault to the end of the first successful request sent after the first
    one that failed (the node may still answer for a few ms while it is being cut);
    0 if none failed."""
    after = [a for a in attempts if a.start > fault_at]
    failed = next((a for a in after if not a.ok), None)
    if failed is None:
        return 0.0 if after else None
    ends = [a.end for a in after if a.ok and a.start > failed.start]
    return (min(ends) - fault_at) * 1000 if ends else None


def gap_ms(attempts: list[Attempt], since: float) -> float | None:
    """Planned moves: from the first request (sent after `since`) that failed to the
    first one sent after it that succeeded; 0 if none failed."""
    after = [a for a in attempts if a.start > since]
    failed = next((a for a in after if not a.ok), None)
    if failed is None:
        return 0.0 if after else None
    back = next((a for a in after if a.ok and a.start > failed.start), None)
    return (back.start - failed.start) * 1000 if back else None
