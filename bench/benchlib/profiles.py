"""tandem's timing profiles, as every benchmark and the campaign run them: heartbeat
interval, loss timeout (token), and the quorum disk's cycle that goes with that token.

The quorum disk must follow the token (README, "Quorum disk"): interval x tko may not
exceed it, and (tko + 2) x interval should stay below it, so that the disk's master role
has moved before a lost node is declared lost. A profile that breaks the rule is refused
when it is made, not when a cell built from it fails to load.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchlib.errors import BenchError


@dataclass(frozen=True)
class Profile:
    """tandem's timing at one setting."""

    name: str
    heartbeat_ms: int
    token_ms: int
    qdisk_interval_ms: int = 100
    qdisk_tko: int = 5
    qdisk: bool = True  # False: the token is too short for any quorum disk cycle

    def __post_init__(self) -> None:
        if not self.qdisk:
            return
        handoff = (self.qdisk_tko + 2) * self.qdisk_interval_ms
        if handoff >= self.token_ms:
            raise BenchError(f"profile {self.name}: the quorum disk's handoff, (tko + 2) x "
                             f"interval = {handoff} ms, is not below the token "
                             f"({self.token_ms} ms)")

    def describe(self) -> str:
        return f"heartbeat {self.heartbeat_ms} ms, token {self.token_ms} ms"

    def describe_qdisk(self) -> str:
        if not self.qdisk:
            return "no quorum disk"
        return f"quorum disk every {self.qdisk_interval_ms} ms, tko {self.qdisk_tko}"


DEFAULT = Profile("default", 150, 1000, qdisk_interval_ms=100, qdisk_tko=5)
# 50 ms is the shortest interval tandem accepts, and 3 the smallest tko: 250 ms < 300 ms.
FAST = Profile("fast", 75, 300, qdisk_interval_ms=50, qdisk_tko=3)
# Below the quorum disk's shortest handoff (250 ms): two-node and majority cells only.
TURBO = Profile("turbo", 30, 150, qdisk=False)
PROFILES = {p.name: p for p in (DEFAULT, FAST, TURBO)}
