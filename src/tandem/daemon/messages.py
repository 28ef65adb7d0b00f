"""What the engine hears from its peers and what it tells them, besides heartbeats'
timing (which the network thread records in the failure detector itself).

- heartbeats carry claims (members, quorum, confirmed fences, quorum-disk standing);
- STATE carries a node's service report, the intents it knows and, from those who know
  one, the placement;
- REQUEST carries a clean leave, configuration chunks, and fence requests from a member
  that cannot fence itself (decided like any other fence, in the next cycle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from tandem.daemon.sync import decode_state, encode_state
from tandem.membership.claims import HeartbeatClaims, PeerClaims
from tandem.membership.heartbeat import HeartbeatPayload
from tandem.wire import BadPayload, Message, MsgType, dump_json, load_json

if TYPE_CHECKING:
    from tandem.daemon.engine import Engine

LEAVE_REPEATS = 3


class Messages:
    """The engine's side of the cluster traffic."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- in ---------------------------------------------------------------------------------
    def deliver(self, msg: Message, ring: int, now: float,
                body: HeartbeatPayload | None) -> None:
        """A verified message, on the engine's loop."""
        if msg.msg_type == MsgType.HEARTBEAT and body is not None:
            self._heartbeat(msg.sender, body)
        elif msg.msg_type == MsgType.STATE:
            self._state(msg)
        elif msg.msg_type == MsgType.REQUEST:
            self._request(msg)

    def _heartbeat(self, sender: int, body: HeartbeatPayload) -> None:
        engine = self.engine
        claims = HeartbeatClaims.from_wire(body.extra)
        old = engine.claims.get(sender)
        if old is None or claims.members != old.claims.members or engine.view is None \
                or sender not in engine.view.members:
            engine.wake.set()  # a peer joining or a view changing: decide now
        engine.claims[sender] = PeerClaims(claims, body.config_version)

    def _state(self, msg: Message) -> None:
        engine = self.engine
        seen = (msg.incarnation, msg.payload)
        if engine.state_seen.get(msg.sender) == seen:
            return  # the periodic repeat of what this peer already told us
        engine.state_seen[msg.sender] = seen
        try:
            state = decode_state(msg.payload)
        except BadPayload:
            return
        intents, changed = engine.store.incoming(msg.sender, state, engine.cell.coordinator,
                                                 msg.incarnation)
        if intents:
            engine.local_services.frozen = engine.store.frozen
            engine.state_changed()  # re-announce what we now know
        if changed:
            engine.pacing.mark()
            engine.wake.set()

    def _request(self, msg: Message) -> None:
        engine = self.engine
        try:
            body = load_json(msg.payload)
        except BadPayload:
            return
        op = body.get("op")
        if op == "leave" and msg.sender in engine.ids:
            current = engine.ledger.records[msg.sender].incarnation
            if current is None or current == msg.incarnation:
                engine.transitions(engine.ledger.left(msg.sender, engine.clock.monotonic()))
                engine.wake.set()
        elif op == "config":
            engine.distribution.chunk(msg.sender, body, engine.config.config_version)
        elif op == "fence" and isinstance(body.get("node"), int) \
                and not isinstance(body.get("node"), bool) \
                and engine.fence_requests.add(body["node"], msg.sender,
                                              str(body.get("reason", "asked by a peer"))):
            engine.wake.set()

    # -- out --------------------------------------------------------------------------------
    def send_state(self) -> None:
        engine = self.engine
        if engine.net is None:
            return
        coordinator = engine.cell.coordinator == engine.local.id
        message = engine.store.outgoing(engine.local_services.report(), coordinator)
        engine.net.send(MsgType.STATE, encode_state(message))

    def _send_requests(self, bodies: list[dict[str, Any]], members: Collection[int]) -> None:
        if self.engine.net is not None:
            for body in bodies:
                self.engine.net.send(MsgType.REQUEST, dump_json(body), members)

    def versions(self) -> dict[int, int]:
        """The configuration version each other member reported."""
        engine = self.engine
        members = engine.view.members if engine.view else frozenset()
        return {m: engine.claims[m].config_version
                for m in members - {engine.local.id} if m in engine.claims}

    def send_config(self, now: float) -> list[int]:
        """Send our configuration to members on an older version, if due."""
        engine = self.engine
        if engine.net is None or engine.view is None:
            return []
        return engine.distribution.send_due(now, engine.config.config_version,
                                            self.versions(), self._send_requests)

    def push_config(self, text: str) -> dict[str, Any]:
        """An operator's `tandem config push`."""
        engine = self.engine
        return engine.distribution.push(text, engine.config, engine.clock.monotonic(),
                                        self.versions(), self._send_requests)

    async def leave(self) -> None:
        """Tell the peers we leave cleanly (a few times: datagrams get lost)."""
        if self.engine.net is None:
            return
        for _ in range(LEAVE_REPEATS):
            self.engine.net.send(MsgType.REQUEST, dump_json({"op": "leave"}))
            await asyncio.sleep(0.01)
