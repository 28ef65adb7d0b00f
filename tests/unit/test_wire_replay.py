"""Replay windows: duplicates, old packets, sliding, incarnations, per-ring isolation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.wire import ReplayGuard, ReplayWindow, Verdict

A, D, OLD, LIFE = Verdict.ACCEPT, Verdict.DUPLICATE, Verdict.TOO_OLD, Verdict.OLD_INCARNATION


@pytest.mark.parametrize(("width", "packets", "expected"), [
    # in order, then an exact duplicate
    (8, [(1, 1), (1, 2), (1, 3), (1, 3)], [A, A, A, D]),
    # reordering inside the window is fine, each number once
    (8, [(1, 5), (1, 3), (1, 4), (1, 3), (1, 5)], [A, A, A, D, D]),
    # the first packet may carry any number
    (8, [(1, 1000), (1, 999), (1, 993), (1, 992)], [A, A, A, OLD]),
    # window slides: the top minus width falls out
    (8, [(1, 1), (1, 9), (1, 2), (1, 1)], [A, A, A, OLD]),
    # a jump wider than the window clears it
    (8, [(1, 1), (1, 2), (1, 100), (1, 2), (1, 99), (1, 93), (1, 92)], [A, A, A, OLD, A, A, OLD]),
    # a new incarnation resets the window, even to lower sequence numbers
    (8, [(1, 50), (2, 1), (2, 1), (1, 51), (2, 2)], [A, A, D, LIFE, A]),
    # an old incarnation stays refused whatever its sequence number
    (8, [(5, 1), (4, 1_000_000), (3, 0)], [A, LIFE, LIFE]),
    # width 1: only strictly increasing numbers
    (1, [(1, 1), (1, 1), (1, 3), (1, 2), (1, 4)], [A, D, A, OLD, A]),
    # the bit for top - (width - 1) is still tracked
    (1024, [(1, 1024), (1, 1), (1, 1), (1, 0)], [A, A, D, OLD]),
])
def test_window_table(width: int, packets: list[tuple[int, int]],
                      expected: list[Verdict]) -> None:
    window = ReplayWindow(width)
    assert [window.check(inc, seq) for inc, seq in packets] == expected


def test_window_reports_incarnation() -> None:
    window = ReplayWindow()
    assert window.incarnation is None
    window.check(7, 1)
    assert window.incarnation == 7


def test_width_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(0)


def test_guard_keeps_senders_and_rings_apart() -> None:
    guard = ReplayGuard(width=16)
    assert guard.check(1, 0, 10, 5) is A
    assert guard.check(1, 1, 10, 5) is A   # same packet on the other ring
    assert guard.check(2, 0, 10, 5) is A   # same numbers, other sender
    assert guard.check(1, 0, 10, 5) is D
    assert guard.check(1, 1, 10, 5) is D
    guard.forget(1)
    assert guard.check(1, 0, 10, 5) is A
    assert guard.check(2, 0, 10, 5) is D


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3000), max_size=300), st.sampled_from([1, 7, 64, 1024]))
def test_window_matches_a_reference_model(seqs: list[int], width: int) -> None:
    """Never accepts a number twice; accepts every new number within the window."""
    window = ReplayWindow(width)
    accepted: set[int] = set()
    top: int | None = None
    for seq in seqs:
        verdict = window.check(1, seq)
        if seq in accepted:
            expected = D if top is not None and top - seq < width else OLD
        elif top is not None and top - seq >= width:
            expected = OLD
        else:
            expected = A
        assert verdict is expected
        if verdict is A:
            accepted.add(seq)
            top = seq if top is None else max(top, seq)
