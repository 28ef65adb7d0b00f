"""Reading the MMP block of an ext4/ldiskfs device: every field checked against what
`dumpe2fs -h` says of a real `mkfs.ext4 -O mmp` image (so the superblock offsets are the
kernel's), its checksum, the kernel's mount wait, the command line; and a real mount of
a loop device over the image, in a private mount namespace, whose kernel thread keeps
changing the sequence under this host's node name and leaves it clean at unmount."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.hpc.lustre import mmp
from tandem.hpc.lustre.mmp import MmpReport, mount_wait_s, read_mmp, read_superblock


def make_image(path: Path, *features: str, size: str = "16M") -> Path:
    subprocess.run(["truncate", "-s", size, str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "fs1-OST0000", *features, str(path)],
                   check=True, capture_output=True)
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    return make_image(tmp_path / "ost0.img", "-O", "mmp", "-E", "mmp_update_interval=1")


def dumpe2fs(path: Path) -> dict[str, str]:
    out = subprocess.run(["dumpe2fs", "-h", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {m.group(1).strip(): m.group(2).strip()
            for m in re.finditer(r"^\s*([A-Za-z_ ]+):\s*(.*)$", out, re.MULTILINE)}


def test_fields_match_dumpe2fs(image: Path) -> None:
    seen = dumpe2fs(image)
    report = read_mmp(str(image))
    assert report is not None
    assert report.label == seen["Filesystem volume name"] == "fs1-OST0000"
    assert report.block == int(seen["MMP block number"])
    assert report.update_interval_s == int(seen["MMP update interval"]) == 1
    assert report.check_interval_s == int(seen["mmp_check_interval"])
    assert report.sequence == int(seen["mmp_sequence"], 16) == mmp.SEQ_CLEAN
    assert report.state == "clean"
    assert report.holder == seen["mmp_node_name"]
    assert report.holder_device == seen["mmp_device_name"]
    assert report.updated == int(seen["mmp_update_time"])
    assert report.checksum_ok is True  # mkfs.ext4 turns metadata_csum on
    assert report.mount_wait_s == 22


def test_a_corrupted_block_fails_its_checksum(image: Path) -> None:
    sb = read_superblock(str(image))
    with open(image, "r+b") as disk:
        disk.seek(sb.mmp_block * sb.block_size + 16)  # the node name
        disk.write(b"X")
    report = read_mmp(str(image))
    assert report is not None and report.checksum_ok is False


def test_no_mmp_and_not_ext4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = make_image(tmp_path / "plain.img")
    assert read_superblock(str(plain)).mmp is False
    assert read_mmp(str(plain)) is None
    assert mmp.main([str(plain)]) == 3
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 8192)
    with pytest.raises(mmp.MmpError, match="no ext4/ldiskfs file system"):
        read_mmp(str(junk))
    assert mmp.main([str(junk)]) == 1
    assert "bad superblock magic" in capsys.readouterr().err


@pytest.mark.parametrize(("update", "check", "wait"), [
    (1, 0, 22),     # the kernel checks every 5 s at the fastest: 2 x (2 x 5 + 1)
    (5, 5, 22),
    (10, 0, 42),
    (1, 30, 122),   # a holder that had slow writes raised its check interval
    (100, 0, 320),  # capped at interval + 60 per wait
])
def test_mount_wait(update: int, check: int, wait: int) -> None:
    assert mount_wait_s(update, check) == wait


def test_states_of_the_sequence(image: Path) -> None:
    sb = read_superblock(str(image))
    raw = bytearray(1024)
    for seq, state in [(mmp.SEQ_CLEAN, "clean"), (mmp.SEQ_FSCK, "fsck"), (7, "in use"),
                       (mmp.SEQ_MAX + 2, "invalid")]:
        mmp.MMP_HEAD.pack_into(raw, 0, mmp.MMP_MAGIC, seq, 1000, b"oss1", b"dm-3", 5)
        report = mmp.parse_mmp(bytes(raw), sb, "d", now=1010.0)
        assert (report.state, report.holder, report.holder_device, report.age_s) == \
            (state, "oss1", "dm-3", 10.0)
    mmp.MMP_HEAD.pack_into(raw, 0, 0, 7, 1000, b"", b"", 5)
    assert mmp.parse_mmp(bytes(raw), sb, "d", now=1010.0).state == "invalid"


def test_command_line(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mmp.main([str(image), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "clean" and shown["label"] == "fs1-OST0000"
    assert set(shown) == set(MmpReport.__dataclass_fields__)
    assert mmp.main([str(image)]) == 0
    text = capsys.readouterr().out
    assert "state:       clean" in text and "mount wait:  up to 22 s when not clean" in text
    assert "checksum:    ok" in text


# -- a real mount ------------------------------------------------------------------------
@pytest.fixture()
def loop(image: Path) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("mounting a loop device needs root")
    device = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True,
                            text=True, check=True).stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def wait_for(check: object, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_mounted_device_shows_its_live_holder(tmp_path: Path, loop: str) -> None:
    """The mount lives in a mount namespace of its own (nothing propagates to the
    host or to lab nodes), held by a process: killing it unmounts."""
    where, ready = tmp_path / "mnt", tmp_path / "ready"
    where.mkdir()
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               f"mount -t ext4 {loop} {where} && touch {ready} && "
                               f"exec sleep 600"])
    try:
        wait_for(ready.exists, 30, "the mount")
        first = read_mmp(loop)
        time.sleep(2.2)  # the update interval is 1 s
        second = read_mmp(loop)
        assert first is not None and second is not None
        assert first.state == second.state == "in use"
        assert second.sequence != first.sequence, "kmmpd did not update the sequence"
        assert second.holder == os.uname().nodename  # the host's name, whatever the ns
        assert second.holder_device == os.path.basename(loop)
        assert second.age_s < 3 and second.checksum_ok is True
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    wait_for(lambda: (r := read_mmp(loop)) is not None and r.state == "clean", 15,
             "a clean MMP block after the unmount")
