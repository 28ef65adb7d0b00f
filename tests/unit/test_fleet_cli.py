"""`tandem cells ...`, `stordepha`, `stordepha.nfs` and `storioha` on the command line:
a small site whose nodes answer with the recorded status of a real node (as in
bench/cells_status.py), through the real fan-out (ClusterShell's exec worker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cells_status import build_site
from tandem.cli.main import main
from tandem.cli.stordepha_cmd import stordepha_main, stordepha_nfs_main, storioha_main


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    build_site(tmp_path, 3)  # cells c001-c003, nodes n1-n6
    (tmp_path / "down").mkdir()
    return tmp_path


def options(work: Path) -> list[str]:
    """Each node `cat`s its recording; a node with a file in down/ is unreachable."""
    node = (f"[ -e {work}/down/$0 ] && {{ echo \"ssh: connect to host $0 port 22: "
            f"No route to host\" >&2; exit 255; }}; cat {work}/answers/$0")
    return ["--from-dir", str(work / "cells"), "--fleet-config", str(work / "fleet.toml"),
            "--exec", f"sh -c '{node}' %h"]


def cells(work: Path, *args: str) -> int:
    return main(["cells", *args, *options(work)])


def test_status_as_json_and_exit_zero(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cells(work, "status", "-a", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["failed"] == ""
    assert [(c["name"], c["state"]) for c in out["cells"]] == [
        ("c001", "in sync"), ("c002", "in sync"), ("c003", "in sync")]
    assert out["cells"][1]["services"][0] == {"name": "svc-n3", "state": "started",
                                              "owner": "n3", "home": "n3",
                                              "migrated": False}
    assert set(out["timings"]) == {"source", "fanout", "fold", "record"}


def test_unreachable_nodes_make_exit_one_naming_them(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for node in ("n3", "n4"):
        (work / "down" / node).touch()
    assert cells(work, "status", "-a") == 1
    captured = capsys.readouterr()
    assert "cell c002 (generic): unreachable, version 1" in captured.out
    assert re.search(r"n3\s+unreachable\s+ssh: connect to host n3 port 22: No route to "
                     r"host", captured.out)
    assert "3 cells: 2 in sync, 1 unreachable" in captured.out
    assert captured.err.strip().splitlines()[-1] == (
        "tandem: 2 of 6 nodes did not answer or failed: n[3-4] unreachable")


def test_a_migrated_service_shows(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for node in ("n5", "n6"):
        path = work / "answers" / node
        path.write_text(path.read_text().replace('"owner": "n5"', '"owner": "n6"'))
    assert cells(work, "status", "-i", "@c003") == 0
    out = capsys.readouterr().out
    assert re.search(r"svc-n5\s+started\s+n6\s+n5\s+MIGRATED", out)
    assert "migrated: svc-n5 of c003 on n6 (home n5)" in out


def test_a_record_that_fails_is_one_warning(work: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (work / "cells" / "locations").write_text("not a directory")
    assert cells(work, "status", "-a") == 0
    captured = capsys.readouterr()
    assert "3 cells: 3 in sync" in captured.out
    assert captured.err.startswith("tandem: warning: where services run was not recorded: "
                                   "cannot record where services run in ")


@pytest.mark.parametrize(("args", "problem"), [
    (["status", "-i", "n[1-"], "tandem: error: -i 'n[1-' is not a node set"),
    (["status", "-i", "n9"], "tandem: error: -i: unknown node n9 (in no cell)"),
    (["push", "-a", "-e", "n[1-6]"], "tandem: error: the selection leaves no node"),
    (["status", "-a", "--fanout", "0"], "tandem: error: --fanout must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_two(work: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], problem: str) -> None:
    assert cells(work, *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(problem) and captured.err.count("\n") == 1
    assert captured.out == ""
    assert not (work / "cells" / "locations").exists()


def test_the_inventory_is_the_default_source_and_a_and_i_exclude_each_other(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = work / "no-inventory.db"
    assert main(["cells", "status", "-a", "--db", f"sqlite:///{missing}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no inventory database" in err and "db init" in err
    assert not missing.exists()
    with pytest.raises(SystemExit) as caught:
        main(["cells", "status", "-a", "-i", "n1", *options(work)])
    assert caught.value.code == 2


def test_stordepha_and_its_nfs_variant(work: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert stordepha_main(["-c", "status", "-a", "-e", "@c002", "--json",
                           *options(work)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in out["cells"]] == ["c001", "c003"]
    assert stordepha_nfs_main(["-c", "status", "-i", "n3,n4", "-hb", "backbone",
                               "-I", "198.51.100.76/24,203.0.113.135/24",
                               *options(work)]) == 0
    assert "cell c002" in capsys.readouterr().out
    for args, problem in [
        (["-i", "n1,n3"], "not the members of one cell"),
        (["-i", "n1"], "-i takes the two nodes of one NFS cell"),
        (["-i", "n1,n2", "-hb", "storage"], "-hb storage: not a heartbeat network"),
        (["-i", "n1,n2", "-I", "198.51.100.76/16"], "-I 198.51.100.76/16: not inside"),
        (["-i", "n1,n2", "-I", "bad"], "-I bad: expected ADDR/PREFIX"),
    ]:
        assert stordepha_nfs_main(["-c", "status", *args, *options(work)]) == 2
        assert problem in capsys.readouterr().err
    # -q: the cells have a quorum disk; these have none, so configure refuses it.
    assert stordepha_main(["-c", "configure", "-q", "-a", *options(work)]) == 1
    assert "has no quorum disk ([qdisk]): drop -q" in capsys.readouterr().err


def test_storioha_on_a_node_without_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "none.sock"))
    assert storioha_main(["-c", "status"]) == 3
    assert capsys.readouterr().out == "tandemd is not running\n"
    assert storioha_main(["-c", "stop"]) == 0
