"""`tandem qdisk init | status | run` through the command module's own entry point
(the same `register` the tandem command uses), on disk files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tandem.cli import qdisk_cmd
from tandem.lab.wait import wait_for
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.runner import QuorumDisk


def blank(tmp_path: Path, name: str = "qd.img", size: int = 1 << 20) -> str:
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = qdisk_cmd.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disk = blank(tmp_path)
    code, out, _ = run(capsys, "init", disk, "--label", "cell2-qd", "--cell", "cell2",
                       "--nodes", "4")
    assert code == 0 and "quorum disk 'cell2-qd' initialised: 4 slots" in out
    code, out, _ = run(capsys, "status", disk)
    assert code == 0
    assert "label 'cell2-qd', cell cell2, format v1, 4 slots" in out
    assert "master: none" in out
    code, out, _ = run(capsys, "status", disk, "--json")
    report = json.loads(out)
    assert (report["label"], report["max_nodes"], report["master"], report["slots"]) == \
        ("cell2-qd", 4, None, [])


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disk = blank(tmp_path)
    assert run(capsys, "init", disk, "--label", "a")[0] == 0
    code, _, err = run(capsys, "init", disk, "--label", "b")
    assert code == 1
    assert err.strip() == (f"tandem: error: {disk}: already a quorum disk labelled 'a'; "
                           f"use --force to overwrite it")
    assert run(capsys, "init", disk, "--label", "b", "--force")[0] == 0
    assert json.loads(run(capsys, "status", disk, "--json")[1])["label"] == "b"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["init", "{disk}", "--label", "x", "--nodes", "17"], 2, "--nodes must be 1..16"),
    (["init", "{missing}", "--label", "x"], 1, "cannot open: No such file"),
    (["status", "{disk}"], 1, "blank: not initialised"),
    (["status", "--config", "{noqdisk}"], 2, "has no [qdisk] section"),
    (["status", "--config", "{missing}"], 1, "cannot read"),
    (["run", "--node-id", "1"], 2, "give --device or --config"),
    (["run", "--node-id", "1", "--device", "{disk}", "--tko", "2"], 2, "--tko must be >= 3"),
    (["run", "--node-id", "1", "--device", "{disk}", "--heuristic", ""], 2,
     "--heuristic: a heuristic needs a command"),
])
def test_errors_are_one_line_with_exit_codes(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             argv: list[str], code: int,
                                             message: str) -> None:
    names = {"disk": blank(tmp_path), "missing": str(tmp_path / "missing"),
             "noqdisk": str(tmp_path / "cell.toml")}
    Path(names["noqdisk"]).write_text('[cluster]\nname = "c"\n')
    got, _, err = run(capsys, *[a.format(**names) for a in argv])
    assert got == code
    assert message in err and err.count("\n") == 1


def test_status_finds_the_device_in_the_config_and_shows_runners(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disk = blank(tmp_path)
    assert run(capsys, "init", disk, "--label", "qd", "--nodes", "2")[0] == 0
    cell = tmp_path / "cell.toml"
    cell.write_text(f'[cluster]\nname = "c"\n\n[qdisk]\ndevice = "{disk}"\nlabel = "qd"\n')
    runners = [QuorumDisk(QdiskDef(device=disk, interval_ms=100, tko=5), n,
                          node_name=f"n{n}") for n in (1, 2)]
    for runner in runners:
        runner.start()
    try:
        wait_for(lambda: all(r.snapshot().master is not None for r in runners), 30,
                 "a master elected", interval=0.02)
        master = runners[0].snapshot().master

        def disk_report() -> dict[str, Any] | None:
            found: dict[str, Any] = json.loads(run(capsys, "status", "--config", str(cell),
                                                   "--json")[1])
            return found if found["master"] == master else None

        # A new master writes MASTER in its slot on its next cycle: poll the disk.
        report = wait_for(disk_report, 30, f"the disk to show master {master}",
                          interval=0.02)
        assert [s["name"] for s in report["slots"]] == ["n1", "n2"]
        assert all(s["fresh"] and s["state"] == "running" for s in report["slots"])
        code, out, _ = run(capsys, "status", "--config", str(cell))
        assert code == 0
        assert f"master: node {master}" in out and "n1" in out and "n2" in out
    finally:
        for runner in runners:
            assert runner.stop()
    report = json.loads(run(capsys, "status", disk, "--json")[1])
    assert report["master"] is None
    assert [s["state"] for s in report["slots"]] == ["stopped", "stopped"]


def test_run_for_a_bounded_time_writes_its_status(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    disk = blank(tmp_path)
    assert run(capsys, "init", disk, "--label", "qd")[0] == 0
    status = tmp_path / "status.json"
    code, out, _ = run(capsys, "run", "--node-id", "3", "--device", disk, "--label", "qd",
                       "--interval-ms", "50", "--tko", "4", "--duration", "1.5",
                       "--heuristic", "true", "--heuristic-interval-ms", "50",
                       "--status-file", str(status))
    assert code == 0
    assert "qdisk node 3:" in out
    final = json.loads(status.read_text())
    assert (final["node_id"], final["available"], final["error"]) == (3, False, "stopped")
