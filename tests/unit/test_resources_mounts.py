"""Reading the mount table, and finding the processes that use a directory through
/proc — real processes, each using it in a different way, beside one that does not;
signals that cannot reach a recycled pid."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.resources.mounts import inside, parse_mountinfo, unescape, users_of
from tandem.resources.proctab import (
    ProcRef,
    is_running,
    proc_stat,
    send_signal,
    wait_gone,
)

MOUNTINFO = """\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
98 29 7:3 / /srv/with\\040space rw,relatime - ext4 /dev/loop3 rw
99 29 7:3 /sub /mnt/bind ro,relatime shared:5 master:1 - ext4 /dev/loop3 rw
100 29 7:4 / /mnt/broken rw,relatime - ext4 /dev/loop4 ro,errors=remount-ro
101 29 0:50 / /export rw - nfs4 server:/export rw,vers=4.2
garbage line
"""


def test_parse_mountinfo() -> None:
    table = parse_mountinfo(MOUNTINFO)
    assert [m.mountpoint for m in table] == ["/proc", "/srv/with space", "/mnt/bind",
                                             "/mnt/broken", "/export"]
    spaced, bind, broken, nfs = table[1:]
    assert spaced.device == (7, 3) and spaced.source == "/dev/loop3"
    assert spaced.fstype == "ext4" and not spaced.read_only
    assert bind.root == "/sub" and bind.read_only  # optional fields skipped
    assert broken.read_only  # the super block turned read-only after errors
    assert nfs.source == "server:/export" and nfs.device == (0, 50)


def test_unescape_and_inside() -> None:
    assert unescape("a\\040b\\011c\\134d") == "a b\tc\\d"
    assert inside("/mnt/a", "/mnt/a") and inside("/mnt/a/f (deleted)", "/mnt/a")
    assert not inside("/mnt/ab", "/mnt/a") and not inside("/mnt", "/mnt/a")


def spawn(code: str, cwd: Path | str = "/") -> subprocess.Popen[bytes]:
    """A Python child that sets itself up, says so on stdout, then waits."""
    child = subprocess.Popen([sys.executable, "-c", f"{code}\nprint('ready', flush=True)\n"
                              "import time; time.sleep(600)"],
                             cwd=cwd, stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    return child


@pytest.fixture()
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for child in started:
            child.kill()
            child.wait(10)


def test_users_of_finds_each_kind_of_use(tmp_path: Path,
                                         children: list[subprocess.Popen[bytes]]) -> None:
    area = tmp_path / "area"
    area.mkdir()
    (area / "data").write_bytes(b"x" * 4096)
    children.append(spawn("pass", cwd=area))  # cwd
    children.append(spawn(f"f = open({str(area / 'data')!r})"))  # open file
    children.append(spawn(f"import mmap; f = open({str(area / 'data')!r}, 'rb'); "
                          "m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); "
                          "f.close()"))  # mapped only
    if os.geteuid() == 0:
        children.append(spawn(f"import os; os.chroot({str(area)!r})"))  # root directory
    users = list(children)
    bystander = spawn("pass", cwd=tmp_path)  # next to it, not in it
    children.append(bystander)
    found = {ref.pid for ref in users_of(str(area))}
    assert found == {c.pid for c in users}
    assert bystander.pid not in found and os.getpid() not in found


def test_identity_survives_pid_reuse(children: list[subprocess.Popen[bytes]]) -> None:
    child = spawn("pass")
    children.append(child)
    stat = proc_stat(child.pid)
    assert stat is not None
    real = stat.ref
    impostor = ProcRef(child.pid, stat.start - 1)  # same pid, another process's start
    assert is_running(real) and not is_running(impostor)
    assert not send_signal(impostor, signal.SIGTERM)
    assert child.poll() is None  # the impostor's signal never reached it
    assert send_signal(real, signal.SIGTERM)
    assert asyncio.run(wait_gone([real], 10)) == []
    assert child.wait(10) == -signal.SIGTERM
    assert not send_signal(real, signal.SIGTERM)
