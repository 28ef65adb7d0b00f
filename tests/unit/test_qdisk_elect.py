"""Liveness on disk and the master election as tables, plus a simulation of many nodes
through random interleavings and stalls that checks two masters never coexist."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.elect import (
    Me,
    PeerView,
    elect,
    observe,
    peer_view,
    settled_state,
)
from tandem.quorum.qdisk.format import Role, Slot, SlotRecord, SlotState
from tandem.quorum.qdisk.heuristics import Score
from tandem.quorum.qdisk.protocol import DiskProtocol

UUID = bytes(range(16))
TKO_S = 10.0


def slot(node_id: int, seq: int = 1, *, inc: int = 7, role: Role = Role.NONE,
         state: SlotState = SlotState.RUNNING, vote: int = 0, score_ok: bool = True,
         interval_ms: int = 1000, tko: int = 10) -> Slot:
    return Slot(node_id=node_id, disk_uuid=UUID, incarnation=inc, seq=seq, timestamp=0.0,
                interval_ms=interval_ms, tko=tko, score=1, max_score=1, score_ok=score_ok,
                state=state, role=role, vote=vote, seen=frozenset({node_id}))


# -- liveness ---------------------------------------------------------------------------

def test_a_slot_seen_once_is_unknown_then_alive_when_it_moves() -> None:
    tracks = observe({}, [SlotRecord(2, slot(2, 5))], read_end=100.0, me=1)
    assert peer_view(2, tracks[2], 100.5, TKO_S).liveness == "unknown"
    tracks = observe(tracks, [SlotRecord(2, slot(2, 6))], read_end=101.0, me=1)
    assert peer_view(2, tracks[2], 101.5, TKO_S).liveness == "alive"


def test_a_slot_that_stops_moving_dies_after_tko_of_our_reads() -> None:
    tracks = observe({}, [SlotRecord(2, slot(2, 5))], read_end=100.0, me=1)
    tracks = observe(tracks, [SlotRecord(2, slot(2, 6))], read_end=101.0, me=1)
    for t in (102.0, 105.0, 110.0):
        tracks = observe(tracks, [SlotRecord(2, slot(2, 6))], read_end=t, me=1)
    assert tracks[2].changed_at == 101.0
    assert peer_view(2, tracks[2], 111.0, TKO_S).liveness == "alive"
    assert peer_view(2, tracks[2], 111.1, TKO_S).liveness == "dead"


def test_a_slot_that_never_moves_is_dead_after_tko_from_first_sight() -> None:
    tracks = observe({}, [SlotRecord(2, slot(2, 5, role=Role.MASTER))], 100.0, me=1)
    assert peer_view(2, tracks[2], 109.0, TKO_S).liveness == "unknown"
    assert peer_view(2, tracks[2], 110.5, TKO_S).liveness == "dead"


def test_a_new_incarnation_counts_as_movement() -> None:
    tracks = observe({}, [SlotRecord(2, slot(2, 50, inc=1))], 100.0, me=1)
    tracks = observe(tracks, [SlotRecord(2, slot(2, 1, inc=2))], 101.0, me=1)
    assert peer_view(2, tracks[2], 101.0, TKO_S).liveness == "alive"


def test_stopped_and_empty_slots_are_dead_at_once_and_our_own_is_skipped() -> None:
    records = [SlotRecord(1, slot(1)), SlotRecord(2, slot(2, state=SlotState.STOPPED)),
               SlotRecord(3, None)]
    tracks = observe({}, records, 100.0, me=1)
    assert set(tracks) == {2}
    assert peer_view(2, tracks[2], 100.0, TKO_S).liveness == "dead"


def test_an_unreadable_slot_keeps_its_last_content_but_is_unknown() -> None:
    tracks = observe({}, [SlotRecord(2, slot(2, 5))], 100.0, me=1)
    tracks = observe(tracks, [SlotRecord(2, slot(2, 6, role=Role.BID))], 101.0, me=1)
    tracks = observe(tracks, [SlotRecord(2, None, "checksum mismatch")], 102.0, me=1)
    view = peer_view(2, tracks[2], 102.0, TKO_S)
    assert (view.liveness, view.role, view.readable) == ("unknown", Role.BID, False)
    # Unreadable for longer than tko: dead, like any silent slot.
    assert peer_view(2, tracks[2], 111.5, TKO_S).liveness == "dead"


def test_a_more_patient_peer_is_judged_by_its_own_tko() -> None:
    patient = slot(2, 6, interval_ms=2000, tko=10)  # 20 s
    tracks = observe({}, [SlotRecord(2, slot(2, 5))], 100.0, me=1)
    tracks = observe(tracks, [SlotRecord(2, patient)], 101.0, me=1)
    assert peer_view(2, tracks[2], 115.0, TKO_S).liveness == "alive"
    assert peer_view(2, tracks[2], 121.5, TKO_S).liveness == "dead"


@pytest.mark.parametrize(("liveness", "state", "expected"), [
    (["alive", "dead"], SlotState.INIT, SlotState.RUNNING),
    (["alive", "unknown"], SlotState.INIT, SlotState.INIT),
    (["unknown"], SlotState.RUNNING, SlotState.RUNNING),
    ([], SlotState.EVICTED, SlotState.EVICTED),
])
def test_settled_state(liveness: list[str], state: SlotState, expected: SlotState) -> None:
    peers = [PeerView(i + 2, lv) for i, lv in enumerate(liveness)]  # type: ignore[arg-type]
    assert settled_state(state, peers) == expected


# -- election tables ----------------------------------------------------------------------

def alive(node_id: int, role: Role = Role.NONE, vote: int = 0, score_ok: bool = True,
          state: SlotState = SlotState.RUNNING) -> PeerView:
    return PeerView(node_id, "alive", role, vote, score_ok, state)


def unknown(node_id: int, role: Role = Role.NONE, readable: bool = True) -> PeerView:
    return PeerView(node_id, "unknown", role, 0, True, SlotState.RUNNING, readable)


def dead(node_id: int, role: Role = Role.NONE) -> PeerView:
    return PeerView(node_id, "dead", role, 0, True, SlotState.RUNNING)


def me(node_id: int, role: Role = Role.NONE, score_ok: bool = True,
       state: SlotState = SlotState.RUNNING) -> Me:
    return Me(node_id, role, state, score_ok)


ELECTION_TABLE = [
    # (case, me, peers, role, vote, master, reason fragment)
    ("alone, lowest: bid", me(1), [], Role.BID, 1, None, "bidding"),
    ("lowest with a live peer: bid", me(1), [alive(2, vote=1)], Role.BID, 1, None, "bidding"),
    ("not the lowest: vote for the lower", me(2), [alive(1)], Role.NONE, 1, None,
     "voting for node 1"),
    ("lower peer fails its score: bid", me(2), [alive(1, score_ok=False)], Role.BID, 2,
     None, "bidding"),
    ("lower peer is still joining: bid", me(2), [alive(1, state=SlotState.INIT)],
     Role.BID, 2, None, "bidding"),
    ("dead lower peer is ignored", me(2), [dead(1, Role.MASTER)], Role.BID, 2, None,
     "bidding"),
    ("unknown peer: wait before bidding", me(1), [unknown(2)], Role.NONE, 1, None,
     "waiting to learn"),
    ("live master elsewhere: follow it", me(1), [alive(2, Role.MASTER)], Role.NONE, 2, 2,
     "following master 2"),
    ("bid wins when all vote for us", me(1, Role.BID), [alive(2, vote=1), dead(3, Role.BID)],
     Role.MASTER, 1, 1, "elected"),
    ("bid waits for a missing vote", me(1, Role.BID), [alive(2, vote=2)], Role.BID, 1, None,
     "not voting for us yet"),
    ("bid waits for a higher bidder", me(1, Role.BID), [alive(2, Role.BID, vote=2)],
     Role.BID, 1, None, "bidding too"),
    ("bid withdraws before a lower bidder", me(2, Role.BID), [alive(1, Role.BID, vote=1)],
     Role.NONE, 1, None, "withdrew bid: node 1"),
    ("bid waits while a claim is unknown", me(1, Role.BID),
     [alive(2, vote=1), unknown(3, Role.MASTER)], Role.BID, 1, None, "bidding too"),
    ("bid withdraws before an unknown lower claim", me(2, Role.BID), [unknown(1, Role.BID)],
     Role.NONE, 2, None, "withdrew bid"),
    ("bid waits on an unreadable slot", me(1, Role.BID),
     [alive(2, vote=1), unknown(3, readable=False)], Role.BID, 1, None, "unreadable"),
    ("bid withdraws when the vote moves", me(2, Role.BID), [alive(1, vote=1)], Role.NONE, 1,
     None, "withdrew bid: voting for node 1"),
    ("bid withdraws on a live master", me(1, Role.BID), [alive(2, Role.MASTER)], Role.NONE,
     2, 2, "following master 2"),
    ("master stays master", me(2, Role.MASTER), [alive(1, vote=2)], Role.MASTER, 2, 2,
     "master"),
    ("master keeps it over a lower newcomer", me(2, Role.MASTER), [alive(1, Role.BID)],
     Role.MASTER, 2, 2, "master"),
    ("master steps down when its score fails", me(1, Role.MASTER, score_ok=False),
     [alive(2, vote=1)], Role.NONE, 2, None, "score below threshold"),
    ("master yields to a lower master", me(2, Role.MASTER), [alive(1, Role.MASTER)],
     Role.NONE, 1, 1, "stepped down"),
    ("higher master keeps it over a lower stale claim", me(1, Role.MASTER),
     [alive(2, Role.MASTER)], Role.MASTER, 1, 1, "master"),
    ("failing score: no bid, follow", me(1, score_ok=False), [alive(2, Role.MASTER)],
     Role.NONE, 2, 2, "following master 2: score below threshold"),
    ("joining: no bid", me(1, state=SlotState.INIT), [], Role.NONE, 0, None, "init"),
    ("evicted: no bid", me(1, state=SlotState.EVICTED), [alive(2)], Role.NONE, 2, None,
     "evicted"),
    ("nobody eligible", me(1, score_ok=False), [alive(2, score_ok=False)], Role.NONE, 0,
     None, "no master"),
]


@pytest.mark.parametrize(("mine", "peers", "expected", "reason"),
                         [(r[1], r[2], r[3:6], r[6]) for r in ELECTION_TABLE],
                         ids=[row[0] for row in ELECTION_TABLE])
def test_election_table(mine: Me, peers: list[PeerView],
                        expected: tuple[Role, int, int | None], reason: str) -> None:
    result = elect(mine, peers)
    assert (result.role, result.vote, result.master) == expected, result
    assert reason in result.reason


# -- simulation: random interleavings of write/read cycles on one shared "disk" ----------

CONFIG = QdiskDef(device="/sim", interval_ms=100, tko=5)  # tko 0.5 s, view valid 0.25 s


@dataclass
class SimNode:
    """A node mid-cycle: 0 = about to begin and build its slot, 1 = its write is in
    flight (lands on the next step: a stall here is a slow write), 2 = about to read."""

    proto: DiskProtocol
    phase: int = 0
    start: float = 0.0
    pending: Slot | None = None


@dataclass
class Sim:
    nodes: list[SimNode]
    disk: dict[int, Slot] = field(default_factory=dict)
    now: float = 0.0

    def step(self, index: int, score_ok: bool, torn: int | None = None) -> None:
        node = self.nodes[index]
        proto = node.proto
        if node.phase == 0:
            proto.begin(self.now)
            node.start = self.now
            node.pending = proto.slot(UUID, Score(int(score_ok), 1, 1, score_ok), self.now)
        elif node.phase == 1:
            assert node.pending is not None
            self.disk[proto.node_id] = node.pending
        else:
            records = [SlotRecord(i, self.disk.get(i), "torn" if i == torn else "")
                       for i in range(1, len(self.nodes) + 1)]
            if self.now - node.start <= CONFIG.io_budget_s:  # else: a failed cycle
                proto.finish(records, score_ok, node.start, self.now, self.now)
        node.phase = (node.phase + 1) % 3

    def crash(self, index: int) -> None:
        old = self.nodes[index].proto
        self.nodes[index] = SimNode(DiskProtocol(CONFIG, old.node_id))

    def masters(self) -> list[int]:
        return [n.proto.node_id for n in self.nodes
                if n.proto.role == Role.MASTER and n.proto.view_valid(self.now)]


    def run(self, indexes: list[int], rounds: int, dt: float = 0.01,
            score_ok: bool = True) -> None:
        """Round-robin steps of the given nodes, checking the invariant after each."""
        for _ in range(rounds):
            for index in indexes:
                self.now += dt
                self.step(index, score_ok)
                assert len(self.masters()) <= 1, (self.now, self.masters())


def healthy_sim() -> Sim:
    """Three nodes after a fair start: node 1 is master."""
    sim = Sim([SimNode(DiskProtocol(CONFIG, i)) for i in (1, 2, 3)])
    sim.run([0, 1, 2], 200)
    assert sim.masters() == [1]
    return sim


def test_a_stalled_master_is_replaced_and_resumes_as_a_follower() -> None:
    sim = healthy_sim()
    sim.run([1, 2], 150)  # node 1 silent for 3 s (tko is 0.5 s)
    assert sim.masters() == [2]
    sim.run([0, 1, 2], 200)
    assert sim.masters() == [2]
    assert sim.nodes[0].proto.vote == 2


def test_a_master_whose_write_hangs_drops_its_claim() -> None:
    sim = healthy_sim()
    while sim.nodes[0].phase != 1:
        sim.step(0, True)  # node 1 begins a cycle as master; its write then hangs
    sim.run([1, 2], 150)
    assert sim.masters() == [2]
    sim.step(0, True)  # the stale MASTER slot lands 3 s late: node 2 yields to it...
    sim.step(0, True)  # ...but node 1's cycle was too slow: its view has expired
    assert 1 not in sim.masters()
    sim.step(0, True)  # and it drops its claim before writing again
    assert sim.nodes[0].proto.role == Role.NONE and sim.nodes[0].pending is not None
    assert sim.nodes[0].pending.role == Role.NONE
    sim.run([0, 1, 2], 200)
    assert len(sim.masters()) == 1


def test_a_master_late_to_begin_drops_its_claim_before_writing() -> None:
    """The case the view-expiry rule exists for: the master begins a cycle late (its
    view has expired but it is not yet dead to the others) and its write then lands
    only after the others have declared it dead and elected a new master."""
    sim = healthy_sim()
    for index in (0, 1, 2):
        while sim.nodes[index].phase != 0:
            sim.step(index, True)
    for _ in range(3):  # node 1: one full, quick cycle as master
        sim.now += 0.001
        sim.step(0, True)
    last_good = sim.nodes[0].proto.last_good
    assert last_good is not None
    sim.run([1, 2], 45, dt=0.005)  # 0.45 s: longer than the 0.25 s view, less than tko
    sim.step(0, True)  # node 1 begins its cycle (and builds its slot) now
    sim.run([1, 2], 22, dt=0.005)  # its write is in flight while node 2 takes over
    assert sim.masters() == [2]
    sim.step(0, True)  # the write lands...
    sim.now += 0.001
    sim.step(0, True)  # ...and the read ends within the I/O budget of the cycle
    assert sim.now - sim.nodes[0].start <= CONFIG.io_budget_s
    assert len(sim.masters()) <= 1
    assert sim.nodes[0].proto.role != Role.MASTER


def test_a_master_whose_score_fails_hands_over() -> None:
    sim = healthy_sim()
    for _ in range(100):
        for index in (0, 1, 2):
            sim.now += 0.01
            sim.step(index, score_ok=index != 0)
            assert len(sim.masters()) <= 1
    assert sim.masters() == [2]


PHASE = st.tuples(st.sampled_from([None, 0, 1, 2]),          # node left out (stalled)
                  st.integers(1, 80),                         # steps in this phase
                  st.sampled_from([0.002, 0.01, 0.03, 0.1]),  # time per step
                  st.integers(0, 30))                         # fate: 0 crash, 1-3 torn read


@settings(max_examples=200, deadline=None)
@given(st.lists(PHASE, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_simulation_never_two_masters_and_converges(phases: list[tuple[int | None, int,
                                                                        float, int]],
                                                    rnd: random.Random) -> None:
    sim = Sim([SimNode(DiskProtocol(CONFIG, i)) for i in (1, 2, 3)])
    for left_out, count, dt, fate in phases:
        active = [i for i in range(3) if i != left_out]
        if fate == 0:
            sim.crash(rnd.choice(active))
        for _ in range(count):
            sim.now += dt * rnd.uniform(0.5, 1.5)
            torn = rnd.randint(1, 3) if fate <= 3 and rnd.random() < 0.2 else None
            sim.step(rnd.choice(active), score_ok=rnd.random() > 0.05, torn=torn)
            assert len(sim.masters()) <= 1, (sim.now, sim.masters())
    # Then a fair, healthy schedule: exactly one master emerges and everyone follows it.
    sim.run([0, 1, 2], 400)
    masters = sim.masters()
    assert len(masters) == 1
    followers = [n for n in sim.nodes if n.proto.node_id != masters[0]]
    assert all(n.proto.vote == masters[0] for n in followers)
