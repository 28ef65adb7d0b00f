#!/usr/bin/env python3
"""The campaign's NFS client, run in the lab's client namespace: tandem.lab.nfsclient's
libnfs file, ONE NFSv3 file handle for the whole cell, numbered records written as an
application on a hard mount writes them (every write retried until it is committed),
and, when the campaign asks on stdin, every record acknowledged so far read back
through that same handle.

    nfswriter.py --server ADDR --export /srv/nfs --file NAME [--interval 0.05]
                 [--max-records N] [--max-s S]

stdout, one JSON line each:
    {"n": 7, "t0": wall time of the first try, "t": wall time acknowledged}
    {"event": "stale", "t": ..., "error": ...}       the handle went stale (then reopened)
    {"event": "verified", "records": N, "bad": [...], "t": ...}   answer to "verify"
    {"event": "error", "error": ...}                  the run ended on an error
stdin: "verify" reads back; "quit" or end of file ends the run. Every loop is bounded by
the run's record count and its time limit.
"""

from __future__ import annotations

import argparse
import json
import select
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from tandem.lab.nfsclient import RECORD, NfsError, NfsFile, record

CHUNK = 512  # records per read (32 KiB: well under any server's largest read)
MAX_REOPENS = 50  # stale handles survived before the run gives up
RETRY_S = 0.05
T = TypeVar("T")


def emit(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


class Writer:
    """One file handle, reopened only after it went stale (which is the failure)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.end = time.monotonic() + args.max_s
        self.nfs = self._open()
        self.acked = 0
        self.reopens = 0

    def _open(self) -> NfsFile:
        """Mount and open, retried until the run's end (the service may be moving)."""
        while True:
            try:
                return NfsFile(self.args.server, self.args.export, self.args.file)
            except NfsError:
                if time.monotonic() > self.end:
                    raise
                time.sleep(0.5)

    def hard(self, op: Callable[[NfsFile], T]) -> T:
        """`op` on the handle until it succeeds, as a hard mount retries; a stale handle
        is reported and the file opened again (a new handle)."""
        while True:
            try:
                return op(self.nfs)
            except NfsError as exc:
                if time.monotonic() > self.end:
                    raise
                if exc.stale:
                    emit({"event": "stale", "t": time.time(), "error": str(exc)})
                    self.reopens += 1
                    if self.reopens > MAX_REOPENS:
                        raise
                    self.nfs = self._open()
                time.sleep(RETRY_S)

    def write_next(self) -> None:
        n = self.acked
        started = time.time()
        self.hard(lambda f: f.write(n * RECORD, record(n)))
        self.acked += 1
        emit({"n": n, "t0": round(started, 3), "t": round(time.time(), 3)})

    def verify(self) -> None:
        """Read back records 0 .. acked-1; list the first ones that differ."""
        bad: list[int] = []
        for first in range(0, self.acked, CHUNK):
            count = min(CHUNK, self.acked - first)
            data = self.hard(partial(_read, first=first, count=count))
            bad += [n for n in range(first, first + count)
                    if data[(n - first) * RECORD:(n - first + 1) * RECORD] != record(n)]
        emit({"event": "verified", "records": self.acked, "bad": bad[:20],
              "bad_count": len(bad), "t": time.time()})


def _read(nfs: NfsFile, *, first: int, count: int) -> bytes:
    return nfs.read(first * RECORD, count * RECORD)


def command(timeout: float) -> str | None:
    """A line from stdin if one comes within `timeout` ("" at end of file)."""
    ready, _, _ = select.select([sys.stdin], [], [], max(0.0, timeout))
    if not ready:
        return None
    return sys.stdin.readline()


def run(args: argparse.Namespace) -> int:
    writer = Writer(args)
    for _ in range(args.max_records):
        if time.monotonic() > writer.end:
            break
        started = time.monotonic()
        writer.write_next()
        line = command(args.interval - (time.monotonic() - started))
        if line == "" or (line and line.strip() == "quit"):
            break
        if line and line.strip() == "verify":
            writer.verify()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nfswriter", description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--export", required=True)
    parser.add_argument("--file", default="records")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--max-records", type=int, default=1_000_000)
    parser.add_argument("--max-s", type=float, default=4 * 3600.0)
    try:
        return run(parser.parse_args(argv))
    except NfsError as exc:
        emit({"event": "error", "error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
