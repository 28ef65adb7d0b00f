"""A real NFSv3 client for lab tests and benchmarks: libnfs (Debian's libnfs13) through
ctypes, run in the lab's client namespace as a process of its own.

It writes numbered records through ONE file handle, as an application on a hard mount
does: every write is retried until it succeeds (the pause is measured) and committed
before it counts as acknowledged; a stale handle is never retried, it is the failure a
transparent failover must not produce. `verify` reads every acknowledged record back.

    nsenter --net=/run/netns/CLIENT -- python -m tandem.lab.nfsclient \\
        --server ADDR --export /srv/export --file records --records 400 --interval 0.05

prints one JSON line per acknowledged record (`{"n": 7, "pause_s": 0.002}`), an
`{"event": "stale"}` or `{"event": "gave_up"}` line when it fails, and a final
`{"event": "verified", "records": N, "bad": [...]}` line.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial

from tandem.common.errors import TandemError

LIBRARY = "libnfs.so.13"
RECORD = 64  # bytes per record
ESTALE = 116  # libnfs returns -errno; NFS3ERR_STALE maps to ESTALE
OP_TIMEOUT_MS = 1000


class NfsError(TandemError):
    """An NFS call failed; `code` is the negative errno libnfs returned."""

    def __init__(self, call: str, code: int, detail: str) -> None:
        self.code = code
        super().__init__(f"{call} failed ({code}): {detail}")

    @property
    def stale(self) -> bool:
        return self.code == -ESTALE


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(LIBRARY)
    ptr, handle = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    lib.nfs_init_context.restype = ptr
    lib.nfs_destroy_context.argtypes = [ptr]
    lib.nfs_get_error.argtypes = [ptr]
    lib.nfs_get_error.restype = ctypes.c_char_p
    lib.nfs_mount.argtypes = [ptr, ctypes.c_char_p, ctypes.c_char_p]
    lib.nfs_set_timeout.argtypes = [ptr, ctypes.c_int]
    lib.nfs_set_autoreconnect.argtypes = [ptr, ctypes.c_int]
    lib.nfs_open.argtypes = [ptr, ctypes.c_char_p, ctypes.c_int, handle]
    lib.nfs_creat.argtypes = [ptr, ctypes.c_char_p, ctypes.c_int, handle]
    # libnfs 4.x order: offset, count, buffer (6.x swapped it; Debian 12 ships 4.0).
    lib.nfs_pwrite.argtypes = [ptr, ptr, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p]
    lib.nfs_pread.argtypes = [ptr, ptr, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p]
    lib.nfs_fsync.argtypes = [ptr, ptr]
    return lib


class NfsFile:
    """One file on an NFSv3 export, through one file handle for its whole life."""

    def __init__(self, server: str, export: str, name: str) -> None:
        self.lib = _library()
        self.ctx = self.lib.nfs_init_context()
        if not self.ctx:
            raise NfsError("nfs_init_context", -12, "out of memory")
        self.lib.nfs_set_timeout(self.ctx, OP_TIMEOUT_MS)
        self.lib.nfs_set_autoreconnect(self.ctx, -1)  # reconnect for ever, as a hard mount
        self._check("nfs_mount", self.lib.nfs_mount(self.ctx, server.encode(),
                                                    export.encode()))
        self.fh = ctypes.c_void_p()
        path = ("/" + name.lstrip("/")).encode()
        if self.lib.nfs_open(self.ctx, path, os.O_RDWR, ctypes.byref(self.fh)) < 0:
            self._check("nfs_creat", self.lib.nfs_creat(self.ctx, path, 0o644,
                                                        ctypes.byref(self.fh)))

    def _check(self, call: str, code: int) -> int:
        if code < 0:
            detail = self.lib.nfs_get_error(self.ctx) or b""
            raise NfsError(call, code, detail.decode(errors="replace"))
        return code

    def write(self, offset: int, data: bytes) -> None:
        """Write and commit (stable on the server's disk before it counts)."""
        wrote = self._check("nfs_pwrite", self.lib.nfs_pwrite(self.ctx, self.fh, offset,
                                                              len(data), data))
        if wrote != len(data):
            raise NfsError("nfs_pwrite", -5, f"short write {wrote}/{len(data)}")
        self._check("nfs_fsync", self.lib.nfs_fsync(self.ctx, self.fh))

    def read(self, offset: int, count: int) -> bytes:
        buffer = ctypes.create_string_buffer(count)
        got = self._check("nfs_pread", self.lib.nfs_pread(self.ctx, self.fh, offset, count,
                                                          buffer))
        return buffer.raw[:got]


def record(n: int) -> bytes:
    return f"record {n:08d} ".encode().ljust(RECORD - 1, b".") + b"\n"


def retried(op: Callable[[], object], deadline: float) -> float:
    """Run `op` until it succeeds (a hard mount); seconds spent. A stale handle and the
    deadline end it with NfsError."""
    began = time.monotonic()
    while True:
        try:
            op()
            return time.monotonic() - began
        except NfsError as exc:
            if exc.stale or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(args: argparse.Namespace, emit: Callable[[dict[str, object]], None]) -> int:
    nfs = NfsFile(args.server, args.export, args.file)
    try:
        for n in range(args.records):
            pause = retried(partial(nfs.write, n * RECORD, record(n)),
                            time.monotonic() + args.give_up_s)
            emit({"n": n, "pause_s": round(pause, 3)})
            time.sleep(args.interval)
        bad = [n for n in range(args.records)
               if nfs.read(n * RECORD, RECORD) != record(n)]
    except NfsError as exc:
        emit({"event": "stale" if exc.stale else "gave_up", "error": str(exc)})
        return 1
    emit({"event": "verified", "records": args.records, "bad": bad[:20]})
    return 0 if not bad else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nfsclient", description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--export", required=True)
    parser.add_argument("--file", default="records")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--give-up-s", type=float, default=120.0)
    args = parser.parse_args(argv)

    def emit(line: dict[str, object]) -> None:
        print(json.dumps(line), flush=True)

    try:
        return run(args, emit)
    except NfsError as exc:
        emit({"event": "error", "error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
