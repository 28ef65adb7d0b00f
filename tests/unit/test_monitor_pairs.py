"""`tandem check pairs`: the manual's I/O pairs status (OK / WARNING / MIGRATED /
CRITICAL, §6.5.1) over every cell, as a Nagios/Icinga plugin. The rules on cells built
by hand, then the real command over a site of recorded nodes reached through the real
fan-out (ClusterShell's exec worker), as in test_fleet_cli."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_monitor_check import parse_line

from cells_status import build_site
from tandem.cli.main import main
from tandem.fleet.report import CellOutcome, NodeOutcome, Outcome, ServiceView
from tandem.monitor.check import CRITICAL, OK, UNKNOWN, WARNING
from tandem.monitor.pairs import pair_status, pairs_result


def cell(name: str = "io12", *, down: tuple[str, ...] = (), state: str = "in sync",
         services: tuple[tuple[str, str, str | None], ...] = (
             ("svc-io1", "started", "io1"), ("svc-io2", "started", "io2")),
         seen: bool = True) -> CellOutcome:
    """A pair io1/io2 (its services at home on io1 and io2 unless told), the nodes in
    `down` unreachable."""
    nodes = tuple(NodeOutcome(n, "unreachable", False, "ssh: timed out") if n in down
                  else NodeOutcome(n, state, True, "online") for n in ("io1", "io2"))
    views = tuple(ServiceView(s, st, owner, s.removeprefix("svc-"))
                  for s, st, owner in services)
    summary = "unreachable" if len(down) == 2 else "partial" if down else state
    return CellOutcome(name, "nfs", summary, 1, nodes, views,
                       next((n.node for n in nodes if n.ok), None) if seen else None)


# -- the rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(("pair", "code", "word", "reasons"), [
    (cell(), OK, "OK", ()),
    (cell(down=("io1",), services=(("svc-io1", "started", "io2"),
                                   ("svc-io2", "started", "io2"))),
     WARNING, "MIGRATED", ("svc-io1 on io2 (home io1)", "io1 unreachable")),
    (cell(down=("io2",)), WARNING, "WARNING", ("io2 unreachable",)),
    (cell(services=(("svc-io1", "recovering", None), ("svc-io2", "started", "io2"))),
     WARNING, "WARNING", ("svc-io1 recovering",)),
    (cell(services=(("svc-io1", "frozen", "io1"),)), WARNING, "WARNING",
     ("svc-io1 frozen",)),
    (cell(down=("io1",), services=(("svc-io1", "failed", None),
                                   ("svc-io2", "started", "io1"))),
     CRITICAL, "CRITICAL", ("svc-io1 failed", "io1 unreachable", "svc-io2 on io1 (home io2)")),
    (cell(services=(("svc-io1", "stopped", None),)), CRITICAL, "CRITICAL",
     ("svc-io1 stopped",)),
    (cell(services=(("svc-io1", "disabled", None),)), OK, "OK", ()),
    (cell(state="stopped", seen=False), CRITICAL, "CRITICAL",
     ("tandemd runs on no member (io1 stopped; io2 stopped)",)),
    (cell(down=("io1", "io2"), seen=False), UNKNOWN, "UNKNOWN",
     ("no member answered (io1 unreachable; io2 unreachable)",)),
])
def test_each_pair_state(pair: CellOutcome, code: int, word: str,
                         reasons: tuple[str, ...]) -> None:
    status = pair_status(pair)
    assert (status.code, status.word, status.reasons) == (code, word, reasons)


def test_the_gravest_pair_decides_and_migrated_exits_as_warning() -> None:
    moved = cell("io34", down=("io1",), services=(("svc-io1", "started", "io2"),))
    result = pairs_result(Outcome("status", [cell(), moved, cell("io56", down=("io2",))]))
    assert (result.code, result.word) == (WARNING, "MIGRATED")
    service, state, text, perf = parse_line(result.line())
    assert (service, state) == ("PAIRS", "MIGRATED")
    assert text == ("3 pairs: 1 OK, 1 WARNING, 1 MIGRATED; io34 MIGRATED: svc-io1 on io2 "
                    "(home io1), io1 unreachable; io56 WARNING: io2 unreachable")
    assert perf["pairs_migrated"] == ("1", "0", "", "0", "3")
    assert perf["pairs_critical"] == ("0", "", "0", "0", "3")
    assert perf["services_away"][0] == "1" and perf["services_started"][0] == "5"
    failed = cell("io78", services=(("svc-io1", "failed", None),))
    worse = pairs_result(Outcome("status", [moved, failed]))
    assert (worse.code, worse.word) == (CRITICAL, "CRITICAL")
    assert worse.text.startswith("2 pairs: 1 MIGRATED, 1 CRITICAL; io78 CRITICAL: ")


def test_a_pair_out_of_reach_does_not_hide_a_migration() -> None:
    lost = cell("io34", down=("io1", "io2"), seen=False)
    moved = cell(services=(("svc-io1", "started", "io2"),))
    assert pairs_result(Outcome("status", [lost, moved])).word == "MIGRATED"
    alone = pairs_result(Outcome("status", [lost, cell()]))
    assert (alone.code, alone.word) == (UNKNOWN, "UNKNOWN")


# -- through the command line -------------------------------------------------------------
@pytest.fixture()
def work(tmp_path: Path) -> Path:
    build_site(tmp_path, 2)  # cells c001 (n1, n2) and c002 (n3, n4), recorded answers
    (tmp_path / "down").mkdir()
    return tmp_path


def check_pairs(work: Path, capsys: pytest.CaptureFixture[str],
                *selection: str) -> tuple[int, str]:
    """`tandem check pairs` over the site; a node with a file in down/ is unreachable."""
    node = (f"[ -e {work}/down/$0 ] && {{ echo \"ssh: connect to host $0 port 22: "
            f"No route to host\" >&2; exit 255; }}; cat {work}/answers/$0")
    code = main(["check", "pairs", *(selection or ("-a",)), "--from-dir",
                 str(work / "cells"), "--fleet-config", str(work / "fleet.toml"),
                 "--exec", f"sh -c '{node}' %h"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return code, out.strip()


def test_ok_then_migrated_then_critical(work: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, line = check_pairs(work, capsys)
    assert code == 0 and parse_line(line)[:3] == ("PAIRS", "OK", "2 pairs: 2 OK")
    # n1 crashed and its service moved to n2: n2 (now coordinator) says so.
    (work / "down" / "n1").touch()
    answer = work / "answers" / "n2"
    answer.write_text(answer.read_text().replace('"owner": "n1"', '"owner": "n2"')
                      .replace('"coordinator": "n1"', '"coordinator": "n2"'))
    code, line = check_pairs(work, capsys)
    assert code == 1
    assert parse_line(line)[1:3] == ("MIGRATED", "2 pairs: 1 OK, 1 MIGRATED; c001 "
                                                 "MIGRATED: svc-n1 on n2 (home n1), n1 "
                                                 "unreachable")
    answer.write_text(answer.read_text().replace('"state": "started"', '"state": "failed"'))
    assert check_pairs(work, capsys)[0] == 2


def test_a_selection_and_unknown_cells(work: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("n3", "n4"):
        (work / "down" / name).touch()
    code, line = check_pairs(work, capsys, "-i", "@c002")
    assert code == 3 and parse_line(line)[1] == "UNKNOWN"
    assert "c002 UNKNOWN: no member answered (n3 unreachable; n4 unreachable)" in line
    code, line = check_pairs(work, capsys, "-i", "nosuchnode")
    assert code == 3 and parse_line(line)[:2] == ("PAIRS", "UNKNOWN")
