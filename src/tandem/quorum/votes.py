"""Quorum as arithmetic on votes: who may act, and a sentence saying why.

A partition may run services and fence only while it holds a strict majority of
the expected votes, so two halves of a split cell can never both act. Two
exceptions are configured, never guessed: two-node mode (one node alone is
quorate, made safe by fencing with a deterministic winner) and a quorum disk
whose votes go to the partition owning its master. Wait-for-all keeps a freshly
booted partition inquorate until it has seen every node once, so a node that
boots alone during a network split cannot claim the cell.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class QuorumInputs:
    """Everything the vote count depends on, as plain data."""

    expected_votes: int
    node_votes: Mapping[int, int]
    present: Collection[int]
    two_node: bool = False
    wait_for_all: bool = False
    seen_all_since_boot: bool = False
    operator_unblocked: bool = False
    qdisk_votes: int = 0
    qdisk_owned_by_partition: bool = False


@dataclass(frozen=True)
class QuorumState:
    """The verdict, with the numbers behind it and a sentence for status output."""

    quorate: bool
    total_votes: int
    needed: int
    reason: str


def compute_quorum(inputs: QuorumInputs) -> QuorumState:
    """Decide whether the partition described by `inputs` is quorate."""
    present = {n for n in inputs.present if n in inputs.node_votes}
    node_total = sum(inputs.node_votes[n] for n in present)
    qdisk = inputs.qdisk_votes if inputs.qdisk_owned_by_partition else 0
    total = node_total + qdisk
    configured = inputs.expected_votes or (sum(inputs.node_votes.values())
                                           + inputs.qdisk_votes)
    expected = max(configured, total)
    needed = 1 if inputs.two_node else expected // 2 + 1
    counted = _describe_votes(total, expected, needed, qdisk)

    missing = sorted(set(inputs.node_votes) - present)
    seen_all = inputs.seen_all_since_boot or not missing
    if inputs.wait_for_all and not seen_all and not inputs.operator_unblocked:
        return QuorumState(False, total, needed,
                           f"not quorate: waiting to see all nodes once since boot "
                           f"(not yet seen: {_ids(missing)}); {counted}")
    if expected == 0:
        return QuorumState(False, total, needed, "not quorate: no votes are configured")
    if total >= needed:
        mode = " in two-node mode" if inputs.two_node else ""
        return QuorumState(True, total, needed, f"quorate{mode}: {counted}")
    return QuorumState(False, total, needed, f"not quorate: {counted}")


def _describe_votes(total: int, expected: int, needed: int, qdisk: int) -> str:
    disk = f" (including {qdisk} from the quorum disk)" if qdisk else ""
    return f"{total} of {expected} votes present{disk}, {needed} needed"


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)
