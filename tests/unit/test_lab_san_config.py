"""`[[lab.disks]]` storage = "loop" | "san" and format = "ext4-mmp": parsing, errors that
name the key and what is expected, the per-node device records and what a node mknods."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from labkit import cell_config
from tandem.cli.main import main
from tandem.config import ConfigError, parse_config
from tandem.lab.nodes import boot_script
from tandem.lab.state import DiskRecord, LabRecord, NodePath

LOOP_DISK = '[ { name = "shared", size = "64M", format = "ext4" } ]'


def disks_of(disks: str) -> list[tuple[str, str, str]]:
    config = parse_config(cell_config("unit", disks=disks))
    assert config.lab is not None
    return [(d.name, d.format, d.storage) for d in config.lab.disks]


def test_storage_defaults_to_one_shared_loop_device() -> None:
    assert disks_of(LOOP_DISK) == [("shared", "ext4", "loop")]


def test_san_and_ext4_mmp_are_read() -> None:
    text = ('[ { name = "mdt", size = "64M", format = "ext4-mmp", storage = "san" },'
            '  { name = "raw", size = "8M", format = "none", storage = "loop" } ]')
    assert disks_of(text) == [("mdt", "ext4-mmp", "san"), ("raw", "none", "loop")]


@pytest.mark.parametrize(("disks", "fragments"), [
    ('[ { name = "d", size = "64M", storage = "fc" } ]',
     ["lab.disks[0].storage", "expected loop or san", "'fc'"]),
    ('[ { name = "d", size = "64M", storage = 1 } ]', ["lab.disks[0].storage", "a string"]),
    ('[ { name = "d", size = "64M", format = "ldiskfs" } ]',
     ["lab.disks[0].format", "ext4-mmp", "'ldiskfs'"]),
    ('[ { name = "d", size = "64M" }, { name = "e", size = 10000, storage = "san" } ]',
     ["lab.disks[1].size", "multiple of 4096", "10000"]),
    ('[ { name = "d", size = "64M", path = "san" } ]', ["lab.disks[0].path", "storage"]),
])
def test_bad_disk_entries_name_the_key_and_the_expectation(disks: str,
                                                           fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(cell_config("unit", disks=disks), "cell.toml")
    message = str(err.value)
    assert "cell.toml" in message
    for fragment in fragments:
        assert fragment in message


def san_record() -> DiskRecord:
    paths = {"node1": NodePath(file="/l/san/mnt/d.node1", loop="/dev/loop7", major=7, minor=7),
             "node2": NodePath(file="/l/san/mnt/d.node2", loop="/dev/loop9", major=7, minor=9)}
    return DiskRecord(name="d", file="/l/disks/d.img", loop="/dev/loop7", major=7, minor=7,
                      format="ext4", size_bytes=64 << 20, storage="san", paths=paths)


def test_a_state_file_from_before_san_still_loads(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_LAB_ROOT", str(tmp_path))
    old = {"name": "old", "config_file": "/x.toml", "source": "/x.toml",
           "disks": [{"name": "shared", "file": "/f.img", "loop": "/dev/loop3", "major": 7,
                      "minor": 3, "format": "ext4", "size_bytes": 1 << 20}]}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "lab.json").write_text(json.dumps(old))
    disk = LabRecord.load("old").disks[0]
    assert (disk.storage, disk.paths) == ("loop", {})
    assert disk.device("node1") == disk.device("node2") == (7, 3)


def test_a_san_record_survives_its_json_and_gives_each_node_its_own_device() -> None:
    disk = san_record()
    again = DiskRecord.from_dict(json.loads(json.dumps(dataclasses.asdict(disk))))
    assert again == disk
    assert disk.device("node1") == (7, 7) and disk.device("node2") == (7, 9)
    assert disk.devices() == {(7, 7): "node1", (7, 9): "node2"}


def test_each_node_mknods_its_own_path() -> None:
    for node, minor in (("node1", 7), ("node2", 9)):
        script = boot_script(node, Path("/root"), [], [san_record()])
        assert f"mknod -m 0660 /dev/tandem/d b 7 {minor}\n" in script


@pytest.mark.parametrize("argv", [["lab", "crash", "node1", "--delay", "1"],
                                  ["lab", "crash", "node1", "--storage", "--delay", "-1"]])
def test_crash_delay_misuse_is_a_one_line_usage_error(argv: list[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem: error: ") and "--delay" in err and err.count("\n") == 1
