#!/usr/bin/env python3
"""The campaign's client of the record service, run in the lab's client namespace
(standard library only, every loop bounded in count and time).

    recclient.py write HOST PORT INTERVAL_S MAX_RECORDS MAX_SECONDS
        sends PUT 1, PUT 2, ... one at a time (a new number for every attempt) and
        prints a JSON line per attempt: {"t": wall time, "n": number, "ok": acked}
    recclient.py read HOST PORT
        prints every number the service has on its disk, one per line; exits 1 if the
        answer was cut short
"""

from __future__ import annotations

import json
import socket
import sys
import time

CONNECT_TIMEOUT_S = 0.5
ANSWER_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 20.0


class Connection:
    """One TCP connection to the service, with a line reader."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self.sock.settimeout(ANSWER_TIMEOUT_S)
        self.lines = self.sock.makefile("rb")

    def put(self, number: int) -> bool:
        """True once the service acknowledged record `number`."""
        self.sock.sendall(f"PUT {number}\n".encode())
        return self.lines.readline(64) == f"OK {number}\n".encode()

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def write(host: str, port: int, interval: float, limit: int, max_s: float) -> int:
    end = time.monotonic() + max_s
    conn: Connection | None = None
    for number in range(1, limit + 1):
        if time.monotonic() > end:
            break
        started = time.monotonic()
        ok = False
        try:
            conn = conn or Connection(host, port)
            ok = conn.put(number)
        except OSError:
            ok = False
        if not ok and conn is not None:
            conn.close()
            conn = None
        print(json.dumps({"t": time.time(), "n": number, "ok": ok}), flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return 0


def read(host: str, port: int) -> int:
    deadline = time.monotonic() + READ_TIMEOUT_S
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.sendall(b"GET\n")
        chunks = []
        while time.monotonic() < deadline:
            data = sock.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
            if b"".join(chunks[-2:]).endswith(b"END\n"):
                break
    body = b"".join(chunks)
    if not body.endswith(b"END\n"):
        return 1
    sys.stdout.write(body[:-4].decode())
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 6 and argv[0] == "write":
        return write(argv[1], int(argv[2]), float(argv[3]), int(argv[4]), float(argv[5]))
    if len(argv) == 3 and argv[0] == "read":
        try:
            return read(argv[1], int(argv[2]))
        except OSError as exc:
            print(f"read failed: {exc}", file=sys.stderr)
            return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
