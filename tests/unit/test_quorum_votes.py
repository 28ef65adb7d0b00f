"""Quorum arithmetic tables: majorities, two-node mode, wait-for-all, qdisk, weights."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tandem.quorum import QuorumInputs, compute_quorum

TWO = {1: 1, 2: 1}
THREE = {1: 1, 2: 1, 3: 1}
FOUR = {1: 1, 2: 1, 3: 1, 4: 1}
SEEN = {"seen_all_since_boot": True}

# (name, inputs, quorate, total, needed, words expected in the reason)
CASES: list[tuple[str, QuorumInputs, bool, int, int, str]] = [
    ("3 nodes, all present", QuorumInputs(0, THREE, {1, 2, 3}), True, 3, 2, "quorate: 3 of 3"),
    ("3 nodes, 2+1 split: majority side", QuorumInputs(0, THREE, {1, 2}), True, 2, 2,
     "quorate: 2 of 3 votes present, 2 needed"),
    ("3 nodes, 2+1 split: minority side", QuorumInputs(0, THREE, {3}), False, 1, 2,
     "not quorate: 1 of 3 votes present, 2 needed"),
    ("4 nodes, 2+2 split: neither half", QuorumInputs(0, FOUR, {1, 2}), False, 2, 3,
     "not quorate: 2 of 4"),
    ("4 nodes, 3+1 split", QuorumInputs(0, FOUR, {1, 2, 4}), True, 3, 3, "quorate"),
    ("4 nodes, 2+2 with qdisk: owner side", QuorumInputs(
        0, FOUR, {1, 2}, qdisk_votes=1, qdisk_owned_by_partition=True), True, 3, 3,
     "including 1 from the quorum disk"),
    ("4 nodes, 2+2 with qdisk: other side", QuorumInputs(
        0, FOUR, {3, 4}, qdisk_votes=1), False, 2, 3, "2 of 5 votes present, 3 needed"),
    ("2 nodes without two-node mode: alone is not enough", QuorumInputs(0, TWO, {1}),
     False, 1, 2, "not quorate"),
    ("2 nodes with a qdisk instead of two-node mode", QuorumInputs(
        0, TWO, {2}, qdisk_votes=1, qdisk_owned_by_partition=True), True, 2, 2, "quorate"),
    ("two-node mode, both present", QuorumInputs(0, TWO, {1, 2}, two_node=True), True, 2, 1,
     "quorate in two-node mode: 2 of 2"),
    ("two-node mode, one alone after seeing the peer", QuorumInputs(
        0, TWO, {1}, two_node=True, wait_for_all=True, **SEEN), True, 1, 1,
     "quorate in two-node mode"),
    ("two-node mode, alone at boot: wait for all", QuorumInputs(
        0, TWO, {1}, two_node=True, wait_for_all=True), False, 1, 1,
     "waiting to see all nodes once since boot (not yet seen: 2)"),
    ("two-node mode, alone at boot, operator unblocked", QuorumInputs(
        0, TWO, {1}, two_node=True, wait_for_all=True, operator_unblocked=True), True, 1, 1,
     "quorate in two-node mode"),
    ("two-node mode, nobody present", QuorumInputs(0, TWO, set(), two_node=True), False, 0, 1,
     "not quorate: 0 of 2"),
    ("wait-for-all: everyone present right now counts as seen", QuorumInputs(
        0, THREE, {1, 2, 3}, wait_for_all=True), True, 3, 2, "quorate"),
    ("wait-for-all blocks even a majority until all were seen", QuorumInputs(
        0, THREE, {1, 2}, wait_for_all=True), False, 2, 2, "not yet seen: 3"),
    ("wait-for-all after all were seen: normal majority", QuorumInputs(
        0, THREE, {1, 2}, wait_for_all=True, **SEEN), True, 2, 2, "quorate"),
    ("wait-for-all unblocked still needs a majority", QuorumInputs(
        0, THREE, {1}, wait_for_all=True, operator_unblocked=True), False, 1, 2,
     "not quorate: 1 of 3"),
    ("weights: heavy node alone", QuorumInputs(0, {1: 3, 2: 1, 3: 1}, {1}), True, 3, 3,
     "3 of 5"),
    ("weights: two light nodes", QuorumInputs(0, {1: 3, 2: 1, 3: 1}, {2, 3}), False, 2, 3,
     "not quorate"),
    ("zero-vote node adds nothing", QuorumInputs(0, {1: 1, 2: 1, 3: 0}, {1, 3}), False, 1, 2,
     "1 of 2"),
    ("expected_votes override raises the bar", QuorumInputs(5, THREE, {1, 2}), False, 2, 3,
     "2 of 5 votes present, 3 needed"),
    ("expected_votes below present votes is lifted", QuorumInputs(2, FOUR, {1, 2, 3}),
     True, 3, 2, "3 of 3 votes present, 2 needed"),
    ("unknown ids in present carry no votes", QuorumInputs(0, THREE, {1, 9, 10}), False, 1, 2,
     "1 of 3"),
    ("no votes configured at all", QuorumInputs(0, {1: 0}, {1}), False, 0, 1,
     "no votes are configured"),
    ("qdisk not owned gives nothing", QuorumInputs(
        0, TWO, {1}, qdisk_votes=1, qdisk_owned_by_partition=False), False, 1, 2,
     "1 of 3"),
]


@pytest.mark.parametrize(("inputs", "quorate", "total", "needed", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_quorum_table(inputs: QuorumInputs, quorate: bool, total: int, needed: int,
                      words: str) -> None:
    state = compute_quorum(inputs)
    assert (state.quorate, state.total_votes, state.needed) == (quorate, total, needed)
    assert words in state.reason
    assert state.reason.startswith("quorate" if quorate else "not quorate")


@pytest.mark.parametrize("votes", [THREE, FOUR, {1: 1, 2: 2, 3: 3, 4: 1}, {i: 1 for i in
                                                                          range(1, 8)}])
def test_two_disjoint_partitions_are_never_both_quorate(votes: dict[int, int]) -> None:
    ids = sorted(votes)
    for mask in range(1 << len(ids)):
        left = {n for i, n in enumerate(ids) if mask >> i & 1}
        right = set(ids) - left
        for owner in (True, False):
            a = QuorumInputs(0, votes, left, qdisk_votes=1, qdisk_owned_by_partition=owner)
            b = replace(a, present=right, qdisk_owned_by_partition=not owner)
            assert not (compute_quorum(a).quorate and compute_quorum(b).quorate), (left, right)
