"""Shared storage that behaves like a SAN: every node reaches one disk image through a
path of its own, and each path can fail on its own.

One FUSE process per lab serves, for each san disk and each node, a file
`<disk>.<node>` whose reads and writes go to the disk's one image, opened once and
without O_DIRECT: all paths share one coherent "array cache". The files are served with
FUSE direct_io, so the kernel keeps no page cache per path and two nodes' mounts are
really two writers, as on a SAN. Each node's /dev/tandem/<disk> is its own loop device
over its own file. A node's path fails while the marker file `san/failed/<node>` exists
in the lab's directory: every read, write and fsync through it then returns EIO, which
the node's kernel reports as real I/O errors on that loop device.

The server runs as its own process: `python -m tandem.lab.san --mount DIR --control DIR
--disk NAME=IMAGE ... --node NODE ...`. Everything it makes lies under the lab's
directory, so `lab down` finds and removes it from the lab's name alone.
"""

from __future__ import annotations

import argparse
import errno
import itertools
import os
import signal
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tandem.lab.names import LabNames
from tandem.lab.proc import LabError, is_alive, run, signal_pids, spawn_detached, wait_gone

MODULE = "tandem.lab.san"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
RELEASE_TIMEOUT_S = 10.0


class SanLayout:
    """Where a lab's SAN lives: mount point, per-node failure markers, log."""

    def __init__(self, names: LabNames) -> None:
        self.root = names.directory / "san"
        self.mountpoint = self.root / "mnt"
        self.control = self.root / "failed"
        self.log = self.root / "fuse.log"

    def path_file(self, disk: str, node: str) -> Path:
        """The file behind `node`'s loop device for `disk`."""
        return self.mountpoint / f"{disk}.{node}"

    def fail(self, node: str) -> None:
        """Fail `node`'s paths: the server checks the marker on every operation."""
        self.control.mkdir(parents=True, exist_ok=True)
        (self.control / node).touch()

    def restore(self, node: str) -> None:
        (self.control / node).unlink(missing_ok=True)

    def failed(self, node: str) -> bool:
        return (self.control / node).exists()


class PathServer:
    """FUSE operations (mfusepy's interface): the per-node files over the images."""

    use_ns = True  # times in nanoseconds (mfusepy's non-deprecated mode)

    def __init__(self, images: dict[str, Path], nodes: Sequence[str], control: Path) -> None:
        self._fds = {disk: os.open(image, os.O_RDWR) for disk, image in images.items()}
        self._sizes = {disk: os.fstat(fd).st_size for disk, fd in self._fds.items()}
        self._files = {f"/{disk}.{node}": (disk, str(control / node))
                       for disk in images for node in nodes}
        self._handles: dict[int, tuple[int, int, str]] = {}  # fh -> (fd, size, marker)
        self._next = itertools.count(1)
        self._born = time.time_ns()

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        times = {"st_atime": self._born, "st_mtime": self._born, "st_ctime": self._born}
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, **times}
        disk, _ = self._lookup(path)
        return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1,
                "st_size": self._sizes[disk], **times}

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *(name[1:] for name in self._files)]

    def open(self, path: str, flags: int) -> int:
        disk, marker = self._lookup(path)
        _check(marker)
        fh = next(self._next)
        self._handles[fh] = (self._fds[disk], self._sizes[disk], marker)
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        fd, _, marker = self._handles[fh]
        _check(marker)
        return os.pread(fd, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        fd, size, marker = self._handles[fh]
        _check(marker)
        if offset + len(data) > size:  # a disk does not grow
            raise OSError(errno.ENOSPC, "beyond the end of the disk")
        return os.pwrite(fd, data, offset)

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        fd, _, marker = self._handles[fh]
        _check(marker)
        os.fsync(fd)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return self.fsync(path, 0, fh)

    def release(self, path: str, fh: int) -> int:
        self._handles.pop(fh, None)
        return 0

    def _lookup(self, path: str) -> tuple[str, str]:
        try:
            return self._files[path]
        except KeyError:
            raise OSError(errno.ENOENT, path) from None


def _check(marker: str) -> None:
    """A failed path answers like a dead HBA: EIO for everything."""
    if os.path.exists(marker):
        raise OSError(errno.EIO, "storage path failed")


def serve(mountpoint: Path, images: dict[str, Path], nodes: Sequence[str],
          control: Path) -> None:
    """Serve the paths until unmounted or signalled (libfuse unmounts on SIGTERM)."""
    from mfusepy import FUSE  # type: ignore[import-untyped]  # only this process needs libfuse

    server = PathServer(images, nodes, control)
    FUSE(server, str(mountpoint), foreground=True, direct_io=True,
         fsname="tandem-san", subtype="tandem-san")


def server_argv(layout: SanLayout, images: dict[str, Path], nodes: Sequence[str]) -> list[str]:
    """The command line of a lab's FUSE process."""
    argv = [sys.executable, "-m", MODULE, "--mount", str(layout.mountpoint),
            "--control", str(layout.control)]
    for disk, image in images.items():
        argv += ["--disk", f"{disk}={image}"]
    for node in nodes:
        argv += ["--node", node]
    return argv


def start_server(names: LabNames, images: dict[str, Path], nodes: Sequence[str]) -> int:
    """Start the lab's FUSE process and wait until every path file is there; its PID."""
    layout = SanLayout(names)
    layout.mountpoint.mkdir(parents=True, exist_ok=True)
    layout.control.mkdir(parents=True, exist_ok=True)
    pid = spawn_detached(server_argv(layout, images, nodes), layout.log)
    wanted = [layout.path_file(d, n) for d in images for n in nodes]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(path.exists() for path in wanted):
            return pid
        if not is_alive(pid):
            break
        time.sleep(0.02)
    tail = layout.log.read_text(errors="replace").strip().splitlines()[-1:] \
        if layout.log.exists() else []
    raise LabError(f"the san paths' FUSE process did not start: {' '.join(tail) or 'no output'}")


def wait_released(loops: Sequence[str], timeout: float = RELEASE_TIMEOUT_S) -> bool:
    """Wait until no file system is left on `loops` (a killed node's mounts are put by
    the kernel after its processes are gone); True if none is."""
    names = [Path(loop).name for loop in loops]
    deadline = time.monotonic() + timeout
    while True:
        busy = [n for n in names for fs in ("ext4", "xfs") if Path(f"/sys/fs/{fs}/{n}").exists()]
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def fuse_mounts_under(directory: Path) -> list[str]:
    """FUSE mount points under `directory` (deepest first), from the host's mount table."""
    prefix = str(directory.resolve()) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) != 2 or not fields[1].startswith("fuse"):
            continue
        point = fields[0].split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def server_pids(directory: Path) -> Iterator[int]:
    """PIDs of FUSE processes of ours whose mount point lies under `directory`."""
    prefix = str(directory.resolve()) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if MODULE in args and "--mount" in args[:-1]:
            mount = args[args.index("--mount") + 1]
            if str(Path(mount).resolve()).startswith(prefix):
                yield int(entry.name)


def stop_server(names: LabNames) -> list[str]:
    """Unmount the lab's FUSE mounts and end its FUSE processes; what was removed.
    Call it after the loop devices over the path files are detached."""
    removed: list[str] = []
    if not names.directory.exists():
        return removed
    for point in fuse_mounts_under(names.directory):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
        removed.append(f"FUSE mount {point}")
    for pid in list(server_pids(names.directory)):
        signal_pids([pid], signal.SIGTERM)
        if not wait_gone(pid, STOP_TIMEOUT_S):
            signal_pids([pid], signal.SIGKILL)
            wait_gone(pid, STOP_TIMEOUT_S)
        removed.append(f"FUSE process {pid}")
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description="Serve a lab's san disk paths over FUSE.")
    parser.add_argument("--mount", required=True, type=Path)
    parser.add_argument("--control", required=True, type=Path,
                        help="directory of per-node failure markers")
    parser.add_argument("--disk", action="append", default=[], metavar="NAME=IMAGE")
    parser.add_argument("--node", action="append", default=[])
    args = parser.parse_args(argv)
    images = {}
    for item in args.disk:
        disk, sep, image = item.partition("=")
        if not sep:
            parser.error(f"--disk expects NAME=IMAGE, got {item!r}")
        images[disk] = Path(image)
    serve(args.mount, images, args.node, args.control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
