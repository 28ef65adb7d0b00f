"""Back-end I/O errors as the kernel logs them (lines taken from kernels 5.10-6.x), and
what is not one."""

from __future__ import annotations

import pytest

from tandem.system.kernlog import io_error, parse_record

ERRORS = [
    ("I/O error, dev loop5, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
     "loop5"),
    ("blk_update_request: I/O error, dev sdb, sector 1953525000 op 0x0:(READ) flags 0x0",
     "sdb"),
    ("critical medium error, dev sdc, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1",
     "sdc"),
    ("Buffer I/O error on dev dm-3, logical block 0, lost sync page write", "dm-3"),
    ("Buffer I/O error on device nvme0n1p2, logical block 12", "nvme0n1p2"),
    ("EXT4-fs warning (device loop7): ext4_end_bio:343: I/O error 10 writing to inode 12 "
     "starting block 1234)", "loop7"),
    ("EXT4-fs error (device sdd1): ext4_find_entry:1455: inode #2: comm ls: reading "
     "directory lblock 0: I/O error", "sdd1"),
    ("XFS (dm-12): metadata I/O error in \"xfs_buf_ioend+0x1d\" at daddr 0x2 len 1 "
     "error 5", "dm-12"),
    ("LDISKFS-fs error (device dm-4): ldiskfs_journal_check_start:61: I/O error", "dm-4"),
]

NOT_ERRORS = [
    "EXT4-fs (loop3): mounted filesystem with ordered data mode. Quota mode: none.",
    "EXT4-fs error (device sda1): ext4_lookup:1850: inode #2: comm ls: deleted inode "
    "referenced: 12",  # the file system's own damage, not the path to the disk
    "br0: port 1(n1p0) entered disabled state",
    "XFS (sdb): Mounting V5 Filesystem",
    "loop5: detected capacity change from 0 to 204800",
    "nfs: server 198.51.100.70 not responding, still trying",
]


@pytest.mark.parametrize(("line", "device"), ERRORS)
def test_io_errors_name_their_device(line: str, device: str) -> None:
    error = io_error(line)
    assert error is not None and error.device == device


@pytest.mark.parametrize("line", NOT_ERRORS)
def test_other_lines_are_not_io_errors(line: str) -> None:
    assert io_error(line) is None


def test_kmsg_records_parse_and_malformed_ones_do_not() -> None:
    record = parse_record(b"3,1234,5678901,-;Buffer I/O error on dev sdb, logical block 0\n"
                          b" SUBSYSTEM=block\n DEVICE=b8:16\n")
    assert record is not None and record.seq == 1234
    assert record.message == "Buffer I/O error on dev sdb, logical block 0"
    for raw in (b"", b"no separator", b"3;x", b"3,abc,1,-;x"):
        assert parse_record(raw) is None
