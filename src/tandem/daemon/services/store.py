"""The replicated service facts one node holds: every node's last report, the operators'
intents, and the coordinator's placement and notes; and the STATE messages that carry
them between nodes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.daemon.sync import StateMessage, load_intents, merge_intents, save_intents
from tandem.manager.model import Assignment, Intent, NodeReport

PLACEMENT_WAIT_S = 3.0  # a new coordinator's wait for the members' STATE, at most


def newest_placement(mine: Mapping[str, Assignment],
                     theirs: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Per service, the assignment of the higher generation (the later decision)."""
    merged = dict(mine)
    for name, assignment in theirs.items():
        if name not in merged or assignment.gen > merged[name].gen:
            merged[name] = assignment
    return merged


class ServiceStore:
    """Reports, intents and placement as this node knows them. Methods return whether
    something the decisions depend on changed."""

    def __init__(self, config: ClusterConfig, local_id: int, state_dir: Path) -> None:
        self.local_id = local_id
        self.known = {s.name for s in config.services}
        self.intents_path = state_dir / "intents.json"
        self.intents: dict[str, Intent] = load_intents(self.intents_path)
        self.placement: dict[str, Assignment] = {}
        self.placement_known = False  # it came from a coordinator, or we decided it
        self.notes: dict[str, str] = {}
        self.reports: dict[int, NodeReport] = {}  # peers' last reports
        self._lives: dict[int, int] = {}  # the incarnation each report came from
        self._coordinating_since: float | None = None

    def reconfigure(self, config: ClusterConfig) -> None:
        self.known = {s.name for s in config.services}
        self.placement = {k: v for k, v in self.placement.items() if k in self.known}

    @property
    def frozen(self) -> frozenset[str]:
        return frozenset(n for n, i in self.intents.items() if i.frozen)

    # -- messages -----------------------------------------------------------------------------
    def outgoing(self, report: NodeReport, coordinator: bool) -> StateMessage:
        """Every node that knows a placement shares it: a coordinator that just booted
        takes it over instead of deciding afresh (and replaying operator requests that
        were carried out long ago). Notes come from the coordinator only."""
        known = coordinator or self.placement_known
        return StateMessage(report, dict(self.intents),
                            dict(self.placement) if known else None,
                            dict(self.notes) if coordinator else {})

    def incoming(self, sender: int, msg: StateMessage, coordinator: int | None,
                 incarnation: int = 0) -> tuple[bool, bool]:
        """Apply a peer's STATE, sent by its life `incarnation`: (our intents changed,
        anything changed)."""
        changed = self.reports.get(sender) != msg.report
        self.reports[sender] = msg.report
        self._lives[sender] = incarnation
        intents = bool(merge_intents(self.intents, msg.intents))
        if intents:
            save_intents(self.intents_path, self.intents)
        if msg.placement is None or sender == self.local_id:
            return intents, changed or intents
        if sender == coordinator and (msg.placement != self.placement
                                      or msg.notes != self.notes or not self.placement_known):
            self.placement, self.notes = dict(msg.placement), dict(msg.notes)
            self.placement_known = True
            changed = True
        elif not self.placement_known:
            # Not trusted (placement_known stays false): a starting point for this node's
            # first decisions, should it be or become the coordinator before it hears one.
            self.placement = newest_placement(self.placement, msg.placement)
            changed = True
        return intents, changed or intents

    def forget(self, node: int, incarnation: int | None = None) -> bool:
        """A node (re)joined in its life `incarnation`: a report from an earlier life is
        meaningless (a restarted node runs only what it reports anew). One from this life
        stays: a peer's first STATE often arrives before we count it as a member, and
        dropping it would leave the coordinator waiting for the next periodic repeat."""
        if incarnation is not None and self._lives.get(node, -1) >= incarnation:
            return False
        self._lives.pop(node, None)
        return self.reports.pop(node, None) is not None

    # -- the coordinator ------------------------------------------------------------------------
    def waiting_for_placement(self, now: float, coordinating: bool,
                              members: frozenset[int]) -> bool:
        """A coordinator that knows no placement yet waits (bounded) for every member's
        STATE: one of them may carry the placement of the previous coordinator."""
        if not coordinating:
            self._coordinating_since = None
            return False
        if self.placement_known:
            return False
        if self._coordinating_since is None:
            self._coordinating_since = now
        silent = [n for n in members if n != self.local_id and n not in self.reports]
        return bool(silent) and now - self._coordinating_since < PLACEMENT_WAIT_S

    def publish(self, placement: Mapping[str, Assignment], notes: Mapping[str, str]) -> bool:
        """Adopt what this node decided as coordinator; True if it changed."""
        changed = placement != self.placement or notes != self.notes
        self.placement, self.notes = dict(placement), dict(notes)
        self.placement_known = True
        return changed

    def set_intent(self, service: str, intent: Intent) -> None:
        """A new intent (an operator's, or the coordinator's policy), saved at once."""
        self.intents[service] = intent
        save_intents(self.intents_path, self.intents)
