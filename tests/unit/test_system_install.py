"""`tandem install --root`: the layout an image gets, a second run that changes nothing,
files the administrator edited left alone, and errors as one line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tandem.cli.main import main
from tandem.system.layout import installed

Capture = pytest.CaptureFixture[str]


def run(root: Path, capsys: Capture, *extra: str) -> tuple[int, str, str]:
    code = main(["install", "--root", str(root), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_image_gets_the_whole_layout(tmp_path: Path, capsys: Capture) -> None:
    code, out, _ = run(tmp_path, capsys)
    assert code == 0 and out.endswith(f"installed under {tmp_path}\n")
    unit = (tmp_path / "etc/systemd/system/tandemd.service").read_text()
    assert f"ExecStart={installed('tandemd')} $TANDEMD_OPTS" in unit
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "KillMode=mixed" in unit
    assert "postrotate" in (tmp_path / "etc/logrotate.d/tandem").read_text()
    assert 'TANDEMD_OPTS=""' in (tmp_path / "etc/default/tandemd").read_text()
    assert stat.S_IMODE((tmp_path / "etc/tandem").stat().st_mode) == 0o700
    link = tmp_path / "etc/HA/bin/hamount"
    assert link.is_symlink() and str(link.readlink()) == installed("hamount")
    for name in ("start", "stop", "status", "mnttab", "ip", "links", "synchro", "cron"):
        text = (tmp_path / "etc/HA" / name).read_text()
        assert text.startswith(f"# /etc/HA/{name}: read by ")
        assert all(line.startswith("#") for line in text.splitlines())  # nothing active
    assert "read by hamount" in (tmp_path / "etc/HA/mnttab").read_text()


def test_a_second_run_changes_nothing_and_keeps_edits(tmp_path: Path, capsys: Capture) -> None:
    run(tmp_path, capsys)
    mnttab = tmp_path / "etc/HA/mnttab"
    mnttab.write_text("/dev/sdb1 /varha ext4\n")
    (tmp_path / "etc/HA/bin/haip").unlink()
    unit = tmp_path / "etc/systemd/system/tandemd.service"
    unit.write_text("stale\n")
    code, out, _ = run(tmp_path, capsys, "--json")
    done = json.loads(out)["done"]
    changed = [line for line in done if not line.startswith(("unchanged", "kept"))]
    assert code == 0 and sorted(changed) == sorted([
        "updated   /etc/systemd/system/tandemd.service",
        f"linked    /etc/HA/bin/haip -> {installed('haip')}"])
    assert mnttab.read_text() == "/dev/sdb1 /varha ext4\n"
    assert "Type=notify" in unit.read_text()
    code, out, _ = run(tmp_path, capsys, "--json")
    assert all(line.startswith(("unchanged", "kept")) for line in json.loads(out)["done"])


def test_errors_are_one_line(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(tmp_path / "absent", capsys)
    assert code == 2 and err.strip() == f"tandem: error: --root {tmp_path / 'absent'}: " \
                                        f"not a directory"
    (tmp_path / "etc").write_text("a file where a directory belongs\n")
    code, _, err = run(tmp_path, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("tandem: error: ") and str(tmp_path / "etc") in err
