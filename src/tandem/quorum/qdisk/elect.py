"""Liveness on disk and the master election, as pure functions over what was read.

Liveness. A node is alive on disk while its (incarnation, sequence) keeps changing. We
only trust our own reads and our own monotonic clock: a change seen by a read that ended
at time E proves the owner wrote before E; if a later read starting at S still shows
the same value, the owner wrote nothing in between, so it has been silent for at least
S - E. Past tko intervals of such silence it is dead on disk. A slot seen only once is
*unknown* until it either changes (alive) or stays still for tko (dead); a slot that
fails its checksum (a write torn by our read) keeps its last state and is also unknown
for this round. Empty and cleanly stopped slots are dead at once.

Election. Roles are NONE, BID and MASTER; each node writes its role in its own slot,
then reads every slot, then decides (write-before-read every cycle). The rules:

1. Vote: for the alive master if there is one (the lowest id if, wrongly, several),
   else for the lowest id alive on disk, running, with a passing score.
2. A node that has no role may BID when it is running, passes its score, is its own
   vote, and no slot is unknown.
3. A bidder becomes MASTER after a read (which followed the write of its BID) in which
   no other live or unknown slot shows BID or MASTER, no slot is unreadable, and every
   other node alive on disk votes for it. Seeing a master, or a lower-id bidder, it
   withdraws; seeing a higher-id bidder, it waits.
4. A master stays master while its score passes and its view stays valid (the
   protocol drops every role when a cycle begins after the last good view expired);
   it yields to a lower-id master if it ever sees one.

Why two masters never coexist: suppose X and Y both became master. X wrote BID (write
Wx), then read (Rx) without seeing Y's BID; likewise Wy < Ry. Each keeps BID or MASTER
in its slot from that write on. Since Rx did not see Wy, Rx ended before Wy landed, so
Wx < Rx < Wy < Ry, and Ry saw X's BID or MASTER: Y cannot have claimed. Ignoring a dead
slot is safe because a node that was silent that long drops its role before it writes
again (see `protocol`: its view expires after tko/2, long before the others may
declare it dead). Votes add the agreement of every live node on top of this exclusion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tandem.quorum.qdisk.format import Role, Slot, SlotRecord, SlotState

Liveness = Literal["alive", "dead", "unknown"]
CLAIMS = (Role.BID, Role.MASTER)


@dataclass(frozen=True)
class PeerTrack:
    """What we remember about another node's slot between reads."""

    last: Slot | None           # latest readable content
    first_seen: float           # end of the read that first showed `last`'s value
    changed_at: float | None    # end of the read that last showed a change, if any
    readable: bool = True       # whether the latest read of the slot was sound


@dataclass(frozen=True)
class PeerView:
    """Our conclusion about another node for this round."""

    node_id: int
    liveness: Liveness
    role: Role = Role.NONE
    vote: int = 0
    score_ok: bool = False
    state: SlotState = SlotState.INIT
    readable: bool = True


@dataclass(frozen=True)
class Me:
    """This node's side of the decision."""

    node_id: int
    role: Role
    state: SlotState
    score_ok: bool


@dataclass(frozen=True)
class Election:
    """The role to write next, the vote to write next, the master as we now see it, and
    a sentence for status and logs."""

    role: Role
    vote: int
    master: int | None
    reason: str


def _same(a: Slot | None, b: Slot | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.incarnation, a.seq) == (b.incarnation, b.seq)


def observe(previous: Mapping[int, PeerTrack], records: Iterable[SlotRecord],
            read_end: float, *, me: int) -> dict[int, PeerTrack]:
    """Fold one read of every slot into the tracks (all slots but `me`)."""
    tracks: dict[int, PeerTrack] = {}
    for record in records:
        if record.node_id == me:
            continue
        old = previous.get(record.node_id)
        if not record.readable:
            tracks[record.node_id] = (PeerTrack(None, read_end, None, False) if old is None
                                      else PeerTrack(old.last, old.first_seen,
                                                     old.changed_at, False))
        elif record.slot is None:
            continue
        elif old is None or old.last is None:
            tracks[record.node_id] = PeerTrack(record.slot, read_end, None)
        elif _same(old.last, record.slot):
            tracks[record.node_id] = PeerTrack(record.slot, old.first_seen, old.changed_at)
        else:
            tracks[record.node_id] = PeerTrack(record.slot, read_end, read_end)
    return tracks


def peer_view(node_id: int, track: PeerTrack, read_start: float, tko_s: float) -> PeerView:
    """Classify one tracked node at the read that started at `read_start`.

    The silence allowed is the larger of our tko and the one the node advertises, so a
    node configured more patiently than us is never declared dead early."""
    last = track.last
    limit = max(tko_s, last.tko_s if last else 0.0)
    silent_since = track.changed_at if track.changed_at is not None else track.first_seen
    stopped = last is not None and last.state == SlotState.STOPPED and track.readable
    liveness: Liveness
    if stopped or read_start - silent_since > limit:
        liveness = "dead"
    elif track.changed_at is None or not track.readable:
        liveness = "unknown"
    else:
        liveness = "alive"
    if last is None:
        return PeerView(node_id, liveness, readable=track.readable)
    return PeerView(node_id, liveness, last.role, last.vote, last.score_ok, last.state,
                    track.readable)


def peer_views(tracks: Mapping[int, PeerTrack], read_start: float,
               tko_s: float) -> list[PeerView]:
    """peer_view for every tracked node, by id."""
    return [peer_view(n, tracks[n], read_start, tko_s) for n in sorted(tracks)]


def settled_state(state: SlotState, peers: Sequence[PeerView]) -> SlotState:
    """A joining node (INIT) runs once no other slot is unknown any more."""
    if state == SlotState.INIT and not any(p.liveness == "unknown" for p in peers):
        return SlotState.RUNNING
    return state


def _eligible(me: Me, alive: Sequence[PeerView]) -> list[int]:
    ids = [p.node_id for p in alive if p.score_ok and p.state == SlotState.RUNNING]
    if me.score_ok and me.state == SlotState.RUNNING:
        ids.append(me.node_id)
    return sorted(ids)


def choose_vote(me: Me, peers: Sequence[PeerView]) -> int:
    """Rule 1: the live master, else the lowest eligible id alive on disk (0: nobody)."""
    alive = [p for p in peers if p.liveness == "alive"]
    masters = [p.node_id for p in alive if p.role == Role.MASTER]
    if me.role == Role.MASTER:
        masters.append(me.node_id)
    if masters:
        return min(masters)
    eligible = _eligible(me, alive)
    return eligible[0] if eligible else 0


def elect(me: Me, peers: Sequence[PeerView]) -> Election:
    """Apply the rules of the module docstring for one round."""
    if not me.score_ok or me.state != SlotState.RUNNING:
        me = replace(me, role=Role.NONE)  # may hold no role: vote as a bystander
    vote = choose_vote(me, peers)
    alive = [p for p in peers if p.liveness == "alive"]
    other_masters = sorted(p.node_id for p in alive if p.role == Role.MASTER)
    if not me.score_ok or me.state != SlotState.RUNNING:
        master = other_masters[0] if other_masters else None
        why = ("score below threshold" if not me.score_ok
               else f"{me.state.name.lower()}: not bidding yet")
        return Election(Role.NONE, vote, master, _following(why, master))
    if me.role == Role.MASTER:
        return _as_master(me, vote, other_masters)
    if other_masters:
        return Election(Role.NONE, vote, other_masters[0],
                        _following("", other_masters[0]))
    if me.role == Role.BID:
        return _as_bidder(me, vote, peers)
    unknown = [p.node_id for p in peers if p.liveness == "unknown"]
    if vote == me.node_id and not unknown:
        return Election(Role.BID, vote, None, "bidding to become master")
    why = (f"waiting to learn whether node(s) {_ids(unknown)} are alive" if unknown
           else f"voting for node {vote}" if vote else "no eligible node")
    return Election(Role.NONE, vote, None, f"no master: {why}")


def _as_master(me: Me, vote: int, other_masters: list[int]) -> Election:
    lower = [n for n in other_masters if n < me.node_id]
    if lower:
        return Election(Role.NONE, lower[0], lower[0],
                        f"stepped down: node {lower[0]} also claims master")
    return Election(Role.MASTER, vote, me.node_id, "master")


def _as_bidder(me: Me, vote: int, peers: Sequence[PeerView]) -> Election:
    live_or_unknown = [p for p in peers if p.liveness != "dead"]
    rivals = sorted(p.node_id for p in live_or_unknown if p.role in CLAIMS)
    if any(r < me.node_id for r in rivals):
        lower = min(rivals)
        return Election(Role.NONE, vote, None,
                        f"withdrew bid: node {lower} (lower id) is bidding")
    unreadable = [p.node_id for p in live_or_unknown if not p.readable]
    missing = [p.node_id for p in peers if p.liveness == "alive" and p.vote != me.node_id]
    if vote != me.node_id:
        return Election(Role.NONE, vote, None, f"withdrew bid: voting for node {vote}")
    if rivals or unreadable or missing:
        waits = rivals or unreadable or missing
        what = ("bidding too" if rivals else "unreadable" if unreadable
                else "not voting for us yet")
        return Election(Role.BID, vote, None,
                        f"bidding: waiting for node(s) {_ids(waits)} ({what})")
    return Election(Role.MASTER, vote, me.node_id, "master (elected)")


def _following(why: str, master: int | None) -> str:
    head = f"following master {master}" if master is not None else "no master"
    return f"{head}: {why}" if why else head


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)
