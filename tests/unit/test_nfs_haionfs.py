"""The reader of /etc/storageadmin/haionfs.conf: the manual's lines read as written, and
every malformed line named as `FILE:LINE: problem`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.hpc.nfs.haionfs import HaionfsError, SharedFs, read_haionfs

GOOD = """\
# HA NFS file systems (DEVICE MOUNTPOINT FSTYPE)

/dev/ldn.da0.1 /mount_point1 xfs
   /dev/ldn.da0.2\t/mount_point2/   ext3   # a trailing slash and a comment
/dev/mapper/home /home ext4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "haionfs.conf"
    path.write_text(text)
    return path


def test_the_manuals_lines_are_read_in_order(tmp_path: Path) -> None:
    assert read_haionfs(write(tmp_path, GOOD)) == (
        SharedFs("/dev/ldn.da0.1", "/mount_point1", "xfs", 3),
        SharedFs("/dev/ldn.da0.2", "/mount_point2", "ext3", 4),
        SharedFs("/dev/mapper/home", "/home", "ext4", 5),
    )


@pytest.mark.parametrize(("line", "problem"), [
    ("/dev/sdb /data", "expected DEVICE MOUNTPOINT FSTYPE, got 2 field(s)"),
    ("/dev/sdb /data xfs rw", "expected DEVICE MOUNTPOINT FSTYPE, got 4 field(s)"),
    ("sdb /data xfs", "device 'sdb' is not an absolute path"),
    ("/dev/sdb data xfs", "mount point 'data' is not an absolute path"),
    ("/dev/sdb /data/../etc xfs",
     "mount point '/data/../etc' is not a plain directory path (no '.', '..', '//', not /)"),
    ("/dev/sdb / xfs",
     "mount point '/' is not a plain directory path (no '.', '..', '//', not /)"),
    ("/dev/sdb /data nfs", "file system type 'nfs' is not one of ext3, ext4, xfs"),
    ("/dev/sdb /mount_point1 xfs", "mount point /mount_point1 is listed already at line 2"),
    ("/dev/ldn.da0.1 /data xfs", "device /dev/ldn.da0.1 is listed already at line 2"),
    ("/dev/sdb /mount_point1/sub xfs",
     "mount point /mount_point1/sub is inside /mount_point1 (line 2)"),
    ("/dev/sdb /srv xfs", "mount point /srv holds /srv/nfs (line 3)"),
])
def test_a_malformed_line_is_file_line_problem(tmp_path: Path, line: str,
                                               problem: str) -> None:
    path = write(tmp_path, f"# shared\n/dev/ldn.da0.1 /mount_point1 xfs\n"
                           f"/dev/ldn.da0.3 /srv/nfs xfs\n\n{line}\n")
    with pytest.raises(HaionfsError) as caught:
        read_haionfs(path)
    assert str(caught.value) == f"{path}:5: {problem}"
    assert isinstance(caught.value, TandemError) and caught.value.exit_code == EXIT_USAGE


def test_the_first_bad_line_is_named_with_a_count_of_the_others(tmp_path: Path) -> None:
    path = write(tmp_path, "/dev/a /a xfs\n/dev/b b xfs\n/dev/c /c\n/dev/d /d zfs\n")
    with pytest.raises(HaionfsError, match=r"^.*:2: mount point 'b' is not an absolute "
                                           r"path \(and 2 more bad lines\)$"):
        read_haionfs(path)


def test_a_similar_prefix_is_not_nesting(tmp_path: Path) -> None:
    entries = read_haionfs(write(tmp_path, "/dev/a /data xfs\n/dev/b /data2 xfs\n"))
    assert [e.mountpoint for e in entries] == ["/data", "/data2"]


def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    empty = write(tmp_path, "# nothing yet\n\n")
    with pytest.raises(HaionfsError, match=f"^{empty}: no file system listed"):
        read_haionfs(empty)
    missing = tmp_path / "none.conf"
    with pytest.raises(HaionfsError, match=f"^{missing}: data file is missing$"):
        read_haionfs(missing)
