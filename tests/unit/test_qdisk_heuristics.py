"""Heuristic scoring as tables, and the runner with real commands (a hung one is killed
with its whole process group)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.lab.wait import wait_for
from tandem.quorum.qdisk.heuristics import (
    Heuristic,
    HeuristicResult,
    HeuristicsRunner,
    compute_score,
    next_result,
    required_score,
)


@pytest.mark.parametrize(("max_score", "min_score", "required"), [
    (0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 0, 2), (4, 0, 3), (10, 0, 6), (10, 4, 4),
])
def test_required_score(max_score: int, min_score: int, required: int) -> None:
    assert required_score(max_score, min_score) == required


PASS = HeuristicResult(True, True, 0, "", 0.0)
FAILED_ONCE = HeuristicResult(False, True, 1, "no route", 0.0)
FAILED_TWICE = HeuristicResult(False, True, 2, "no route", 0.0)
NEVER_PASSED = HeuristicResult(False, False, 1, "no route", 0.0)
H1 = Heuristic(("ping",), score=1)
H2 = Heuristic(("check",), score=2, tko=2)

SCORE_TABLE = [
    ("no heuristics: always passes", [], {}, 0, 0, 0, True),
    ("not run yet: counts nothing", [H1, H2], {}, 0, 3, 2, False),
    ("all pass", [H1, H2], {0: PASS, 1: PASS}, 3, 3, 2, True),
    ("the heavy one alone passes", [H1, H2], {1: PASS}, 2, 3, 2, True),
    ("the light one alone fails", [H1, H2], {0: PASS, 1: NEVER_PASSED}, 1, 3, 2, False),
    ("one failure within tko 2 still counts", [H1, H2], {1: FAILED_ONCE}, 2, 3, 2, True),
    ("two failures reach tko 2", [H1, H2], {1: FAILED_TWICE}, 0, 3, 2, False),
    ("tko 1: one failure is enough", [H1], {0: FAILED_ONCE}, 0, 1, 1, False),
]


@pytest.mark.parametrize(("heuristics", "results", "expected"),
                         [(r[1], r[2], r[3:]) for r in SCORE_TABLE],
                         ids=[row[0] for row in SCORE_TABLE])
def test_score_table(heuristics: list[Heuristic], results: dict[int, HeuristicResult],
                     expected: tuple[int, int, int, bool]) -> None:
    got = compute_score(heuristics, results)
    assert (got.score, got.max_score, got.required, got.ok) == expected


def test_results_count_consecutive_failures_and_remember_success() -> None:
    first = next_result(None, False, "down", 1.0)
    assert (first.failures, first.ever_passed) == (1, False)
    ok = next_result(first, True, "", 2.0)
    assert (ok.failures, ok.ever_passed, ok.detail) == (0, True, "")
    again = next_result(next_result(ok, False, "down", 3.0), False, "still", 4.0)
    assert (again.failures, again.ever_passed, again.detail) == (2, True, "still")


def test_heuristics_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Heuristic(())
    with pytest.raises(ValueError):
        Heuristic(("true",), score=0)


def test_runner_scores_real_commands_and_follows_changes(tmp_path: Path) -> None:
    flag = tmp_path / "uplink-ok"
    flag.touch()
    runner = HeuristicsRunner([
        Heuristic(("true",), score=1, interval_s=0.05, timeout_s=5),
        Heuristic(("test", "-e", str(flag)), score=2, interval_s=0.05, timeout_s=5),
    ])
    runner.start()
    try:
        wait_for(lambda: runner.score().ok, 20, "the score to pass")
        assert (runner.score().score, runner.score().max_score) == (3, 3)
        flag.unlink()
        wait_for(lambda: not runner.score().ok, 20, "the score to fail")
        assert runner.score().score == 1
        detail = runner.results()[1][1]
        assert detail is not None and not detail.passed
        flag.touch()
        wait_for(lambda: runner.score().ok, 20, "the score to pass")
    finally:
        assert runner.stop()


def test_a_hung_heuristic_fails_on_timeout_and_its_group_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    runner = HeuristicsRunner([Heuristic(("sh", "-c", script), interval_s=0.1,
                                         timeout_s=0.3)])
    runner.start()
    try:
        wait_for(lambda: runner.results()[0][1] is not None, 20, "a first result")
        result = runner.results()[0][1]
        assert result is not None and not result.passed
        assert "did not finish" in result.detail
        assert not runner.score().ok
        child = int(pidfile.read_text())
        wait_for(lambda: not _alive(child), 20, "the child to be gone")
    finally:
        assert runner.stop()


def test_a_missing_program_fails_without_raising() -> None:
    runner = HeuristicsRunner([Heuristic(("/nonexistent/check",), interval_s=0.1)])
    runner.start()
    try:
        wait_for(lambda: runner.results()[0][1] is not None, 20, "a first result")
        result = runner.results()[0][1]
        assert result is not None and "cannot run" in result.detail
    finally:
        assert runner.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
