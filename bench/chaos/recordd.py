#!/usr/bin/env python3
"""The campaign's data service: a tiny server that appends numbered records to a file on
the shared disk and acknowledges each one only after it is on the disk (fsync), so that
an acknowledged record that later goes missing is a real loss, not a cache artefact.

Runs inside a lab node under the `process` agent, standard library only:

    recordd.py --dir /srv/rec --bind 198.51.100.50 [--port 7070]

Protocol, one line per request on a TCP connection:
    PUT <n>   ->  OK <n>      (the record is in the file and fsynced)
    GET       ->  the file's numbers, one per line, then END
"""

from __future__ import annotations

import argparse
import os
import signal
import socketserver
import sys
import threading
from pathlib import Path
from types import FrameType

LOG_NAME = "records.log"
MAX_LINE = 64


class RecordFile:
    """Append-only file of record numbers; appends are serialised and fsynced."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOG_NAME
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the file's directory entry must survive a crash too
        finally:
            os.close(dir_fd)
        self._lock = threading.Lock()

    def append(self, number: int) -> None:
        data = f"{number}\n".encode()
        with self._lock:
            os.write(self._fd, data)
            os.fsync(self._fd)

    def contents(self) -> bytes:
        with self._lock:
            return self.path.read_bytes()


class Handler(socketserver.StreamRequestHandler):
    """One client connection: any number of PUT lines, or one GET."""

    server: Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_LINE).decode(errors="replace").strip()
            if not line:
                return
            word, _, arg = line.partition(" ")
            if word == "PUT" and arg.isdigit():
                self.server.records.append(int(arg))
                self.wfile.write(f"OK {arg}\n".encode())
            elif word == "GET":
                self.wfile.write(self.server.records.contents() + b"END\n")
                return
            else:
                self.wfile.write(b"ERR\n")
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], records: RecordFile) -> None:
        self.records = records
        super().__init__(address, Handler)


def _stop(server: Server) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recordd")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=7070)
    args = parser.parse_args(argv)
    server = Server((args.bind, args.port), RecordFile(args.dir))
    _stop(server)
    with server:
        server.serve_forever(poll_interval=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
