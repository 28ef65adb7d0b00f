"""Quorum: pure vote arithmetic (majority, two-node mode, wait-for-all, quorum disk)."""

from tandem.quorum.votes import QuorumInputs, QuorumState, compute_quorum

__all__ = ["QuorumInputs", "QuorumState", "compute_quorum"]
