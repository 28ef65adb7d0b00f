"""UDP transport: one authenticated endpoint per heartbeat ring.

Each ring is an independent path (its own network, socket and replay windows), so
losing one ring never disturbs another. The datagram handler verifies, checks
freshness and hands the message on; it never raises and never logs faster than a
rate limit, because it runs on the event loop that also carries the heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tandem.config.model import ClusterConfig
from tandem.wire.errors import BadPacket, TransportError
from tandem.wire.message import Message, MsgType, cluster_hash, decode, encode
from tandem.wire.ratelimit import RateLimitedLog
from tandem.wire.replay import DEFAULT_WIDTH, ReplayGuard, Verdict

log = logging.getLogger(__name__)

Address = tuple[str, int]
MessageCallback = Callable[[Message, int, float], None]

DROP_REASONS = (
    "truncated", "oversized", "bad_magic", "bad_version", "wrong_cluster", "bad_mac",
    "malformed", "unknown_type", "wrong_ring", "unknown_sender", "own_id",
    "duplicate", "too_old", "old_incarnation", "callback_error", "internal",
)
COUNTERS = ("rx_ok", "tx_ok", "tx_backlog", "socket_error",
            *(f"drop_{r}" for r in DROP_REASONS))
DEFAULT_MAX_BACKLOG = 256 * 1024
_SO_PRIORITY_INTERACTIVE = 6  # highest priority allowed without CAP_NET_ADMIN
_DSCP_CS6 = 0xC0  # "network control" class, as used by routing protocols
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
# Room for a burst (a flood of junk, or the reader held up for a moment) so that the
# heartbeats behind it are not dropped by the kernel; FORCE needs CAP_NET_ADMIN (root),
# beyond net.core.rmem_max.
RECEIVE_BUFFER = 4 << 20
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


@dataclass(frozen=True)
class RingPlan:
    """Where the local node listens on one ring and where each peer is reached."""

    ring: int
    bind: Address
    peers: Mapping[int, Address]
    network: str = ""


def plan_rings(config: ClusterConfig, local_node: str, *,
               port: int | None = None) -> tuple[RingPlan, ...]:
    """One plan per ring the local node is attached to, from the configuration.

    A peer without an address on a ring is simply not reached on that ring.
    """
    local = config.node(local_node)
    use_port = config.port if port is None else port
    plans = []
    for net in config.rings:
        assert net.ring is not None
        mine = local.interface_on(net.name)
        if mine is None:
            continue
        peers: dict[int, Address] = {}
        for node in config.nodes:
            itf = node.interface_on(net.name)
            if node.id != local.id and itf is not None:
                peers[node.id] = (str(itf.address.ip), use_port)
        plans.append(RingPlan(ring=net.ring, bind=(str(mine.address.ip), use_port),
                              peers=peers, network=net.name))
    if not plans:
        raise TransportError(f"node {local_node!r} has an address on no heartbeat ring")
    return tuple(plans)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: RingEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.endpoint._receive(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.endpoint._socket_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint._closed.set()


class RingEndpoint:
    """The socket of the local node on one ring: signs, sends, verifies, delivers."""

    def __init__(self, plan: RingPlan, *, key: bytes, cluster: bytes | str, local_id: int,
                 incarnation: int, on_message: MessageCallback,
                 replay_width: int = DEFAULT_WIDTH,
                 max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.plan = plan
        self.ring = plan.ring
        self.local_id = local_id
        self.incarnation = incarnation
        self._key = key
        self._cluster = cluster_hash(cluster) if isinstance(cluster, str) else cluster
        self._on_message = on_message
        self._guard = ReplayGuard(replay_width)
        self._max_backlog = max_backlog
        self._counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._seq = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rlog = RateLimitedLog(log)
        self._closed = asyncio.Event()
        self._closed.set()
        self.socket_options: tuple[str, ...] = ()

    async def open(self) -> None:
        """Bind the socket and start receiving; TransportError if binding fails."""
        if self._transport is not None:
            raise TransportError(f"ring {self.ring} endpoint is already open")
        sock = self._make_socket()
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self),
                                                               sock=sock)
        except OSError as exc:
            sock.close()
            raise TransportError(f"ring {self.ring}: cannot start on {self.plan.bind}: "
                                 f"{exc.strerror or exc}") from None
        self._loop = loop
        self._transport = transport
        self._closed.clear()

    def _make_socket(self) -> socket.socket:
        host, port = self.plan.bind
        try:
            version = ipaddress.ip_address(host).version
        except ValueError:
            raise TransportError(f"ring {self.ring}: bind address {host!r} is not an IP "
                                 f"address") from None
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        self.socket_options = _tune(sock, family)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise TransportError(f"ring {self.ring}: cannot bind {host} port {port}: "
                                 f"{exc.strerror or exc}") from None
        sock.setblocking(False)
        return sock

    @property
    def bound(self) -> Address:
        """The address and port actually bound (useful with port 0)."""
        if self._transport is None:
            raise TransportError(f"ring {self.ring} endpoint is not open")
        name = self._transport.get_extra_info("sockname")
        return (str(name[0]), int(name[1]))

    def next_seq(self) -> int:
        """A fresh sequence number of this endpoint."""
        self._seq += 1
        return self._seq

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Iterable[int] | None = None, *, seq: int | None = None) -> int:
        """Sign and send to the given peers (all peers of the ring by default).

        Returns the sequence number used. Socket errors are counted, not raised:
        a lost heartbeat is the failure detector's business, not the sender's.
        """
        transport = self._transport
        if transport is None or transport.is_closing():
            raise TransportError(f"ring {self.ring} endpoint is not open")
        dests = self._destinations(dest_node_ids)
        use_seq = self.next_seq() if seq is None else seq
        frame = encode(Message(msg_type=msg_type, cluster=self._cluster, sender=self.local_id,
                               ring=self.ring, incarnation=self.incarnation, seq=use_seq,
                               payload=payload), self._key)
        for addr in dests:
            if _backlog(transport) > self._max_backlog:
                self._counters["tx_backlog"] += 1
                continue
            transport.sendto(frame, addr)
            self._counters["tx_ok"] += 1
        return use_seq

    def _destinations(self, dest_node_ids: Iterable[int] | None) -> list[Address]:
        peers = self.plan.peers
        if dest_node_ids is None:
            return list(peers.values())
        missing = [n for n in dest_node_ids if n not in peers]
        if missing:
            raise TransportError(f"ring {self.ring}: no address for node(s) "
                                 f"{', '.join(map(str, sorted(missing)))}")
        return [peers[n] for n in dest_node_ids]

    def _receive(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            reason = self._accept(data)
        except Exception:  # the loop must survive anything a packet can trigger
            reason = "internal"
            self._rlog.log(logging.ERROR, "ring %d: internal error on packet from %s",
                           self.ring, addr[0], exc_info=True)
        if reason is None:
            self._counters["rx_ok"] += 1
            return
        self._counters[f"drop_{reason}"] += 1
        if reason != "internal":
            self._rlog.warning("ring %d: dropped packet from %s: %s", self.ring, addr[0], reason)

    def _accept(self, data: bytes) -> str | None:
        """Deliver the packet, or return the reason it was dropped."""
        checked = self._verify(data)
        if isinstance(checked, str):
            return checked
        assert self._loop is not None
        try:
            self._on_message(checked, self.ring, self._loop.time())
        except Exception:
            self._rlog.log(logging.ERROR, "ring %d: message handler failed", self.ring,
                           exc_info=True)
            return "callback_error"
        return None

    def _verify(self, data: bytes) -> Message | str:
        """The authenticated, fresh message in `data`, or why it is refused."""
        try:
            msg = decode(data, self._key, self._cluster)
        except BadPacket as exc:
            return exc.reason
        if msg.ring != self.ring:
            return "wrong_ring"
        if msg.sender == self.local_id:
            return "own_id"
        if msg.sender not in self.plan.peers:
            return "unknown_sender"
        verdict = self._guard.check(msg.sender, msg.ring, msg.incarnation, msg.seq)
        return msg if verdict is Verdict.ACCEPT else str(verdict.value)

    def _socket_error(self, exc: Exception) -> None:
        self._counters["socket_error"] += 1
        self._rlog.warning("ring %d: socket error: %s", self.ring, exc)

    def stats(self) -> dict[str, int]:
        """Counters: rx_ok, tx_ok, tx_backlog, socket_error and drop_<reason>."""
        return dict(self._counters)

    def close(self) -> None:
        """Stop receiving; the socket is released soon after (see `wait_closed`)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def wait_closed(self) -> None:
        """Wait until the socket is really released (its port can be bound again)."""
        await self._closed.wait()


def _backlog(transport: asyncio.DatagramTransport) -> int:
    """Bytes queued in user space because the socket buffer was full."""
    size = getattr(transport, "get_write_buffer_size", None)
    return int(size()) if callable(size) else 0


def _tune(sock: socket.socket, family: int) -> tuple[str, ...]:
    """Best-effort socket options; returns the ones that took effect."""
    wanted: list[tuple[str, int, int, int]] = [
        ("freebind", socket.SOL_IP, _IP_FREEBIND, 1),
        ("priority", socket.SOL_SOCKET, socket.SO_PRIORITY, _SO_PRIORITY_INTERACTIVE),
    ]
    if family == socket.AF_INET:
        wanted.append(("dscp_cs6", socket.IPPROTO_IP, socket.IP_TOS, _DSCP_CS6))
    else:
        wanted.append(("dscp_cs6", socket.IPPROTO_IPV6, socket.IPV6_TCLASS, _DSCP_CS6))
    wanted.append(("rcvbuf", socket.SOL_SOCKET, _SO_RCVBUFFORCE, RECEIVE_BUFFER))
    applied = []
    for name, level, option, value in wanted:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)
            applied.append(name)
    if "rcvbuf" not in applied:  # not root: as much as rmem_max allows
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return tuple(applied)


class Rings:
    """All ring endpoints of the local node, sending each message on every ring."""

    def __init__(self, plans: Sequence[RingPlan], *, key: bytes, cluster: bytes | str,
                 local_id: int, incarnation: int, on_message: MessageCallback,
                 replay_width: int = DEFAULT_WIDTH) -> None:
        if not plans:
            raise TransportError("no ring to open")
        rings = [p.ring for p in plans]
        if len(set(rings)) != len(rings):
            raise TransportError(f"ring numbers repeat: {rings}")
        self.local_id = local_id
        self.incarnation = incarnation
        self.endpoints: dict[int, RingEndpoint] = {
            p.ring: RingEndpoint(p, key=key, cluster=cluster, local_id=local_id,
                                 incarnation=incarnation, on_message=on_message,
                                 replay_width=replay_width)
            for p in plans
        }
        self._seq = 0

    @classmethod
    def from_config(cls, config: ClusterConfig, local_node: str, *, key: bytes,
                    incarnation: int, on_message: MessageCallback,
                    binds: Mapping[int, Address] | None = None) -> Rings:
        """Endpoints for `local_node` as configured; `binds` overrides a ring's bind."""
        plans = []
        for plan in plan_rings(config, local_node):
            bind = (binds or {}).get(plan.ring, plan.bind)
            plans.append(RingPlan(ring=plan.ring, bind=bind, peers=plan.peers,
                                  network=plan.network))
        return cls(plans, key=key, cluster=config.name, local_id=config.node(local_node).id,
                   incarnation=incarnation, on_message=on_message)

    async def open(self) -> None:
        """Open every endpoint, or none: a failure closes those already opened."""
        try:
            for endpoint in self.endpoints.values():
                await endpoint.open()
        except BaseException:
            await self.aclose()
            raise

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> int:
        """Send one message on every ring (same sequence number); returns it."""
        if dest_node_ids is not None:
            reachable = {n for e in self.endpoints.values() for n in e.plan.peers}
            missing = set(dest_node_ids) - reachable
            if missing:
                raise TransportError(f"no ring reaches node(s) "
                                     f"{', '.join(map(str, sorted(missing)))}")
        self._seq += 1
        for endpoint in self.endpoints.values():
            dests = None if dest_node_ids is None else [
                n for n in dest_node_ids if n in endpoint.plan.peers]
            if dests == []:
                continue
            endpoint.send(msg_type, payload, dests, seq=self._seq)
        return self._seq

    def stats(self) -> dict[int, dict[str, int]]:
        """Per-ring counters (see RingEndpoint.stats)."""
        return {ring: e.stats() for ring, e in self.endpoints.items()}

    def close(self) -> None:
        """Close every endpoint (idempotent); sockets are released soon after."""
        for endpoint in self.endpoints.values():
            endpoint.close()

    async def aclose(self) -> None:
        """Close every endpoint and wait until their sockets are released."""
        self.close()
        for endpoint in self.endpoints.values():
            await endpoint.wait_closed()
