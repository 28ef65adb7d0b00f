"""A client that keeps asking a service for an answer, from the lab's client namespace,
and records when it got one: the client-visible outage of a failover.

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

PROBE_SCRIPT = r"""
import json, socket, sys, time
host, port, interval, limit, max_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
request = f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
end = time.monotonic() + max_s
for _ in range(limit):
    if time.monotonic() > end:
        break
    started = time.monotonic()
    ok, body = False, ""
    try:
        with socket.create_connection((host, port), timeout=0.2) as sock:
            sock.settimeout(0.5)
            sock.sendall(request)
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
        body = rest[:80].decode(errors="replace")
    except OSError as exc:
        body = type(exc).__name__
    print(json.dumps({"t": time.time(), "ok": ok, "body": body}), flush=True)
    time.sleep(max(0.0, interval - (time.monotonic() - started)))
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

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)

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
