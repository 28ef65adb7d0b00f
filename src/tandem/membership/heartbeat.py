"""Periodic heartbeats on every ring, kept on absolute deadlines.

A heartbeat says "I am here, these are the nodes I hear, this is my config
version", plus whatever small state the engine adds. Deadlines are computed from
the first tick, never from the previous wake-up, so scheduling delays do not
accumulate into drift; the delays themselves are measured and reported because a
late heartbeat is the first sign of an overloaded node.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandem.membership.detector import FailureDetector
from tandem.wire.errors import BadPayload, WireError
from tandem.wire.message import Message, MsgType, dump_json, load_json
from tandem.wire.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

LAG_WINDOW = 3000  # beats the p99 lateness is taken over (5-7 minutes at usual rates)


class Channel(Protocol):
    """Anything that can send one message on every ring (such as wire.Rings)."""

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> int: ...


@dataclass(frozen=True)
class HeartbeatPayload:
    """The JSON body of a HEARTBEAT message."""

    hears: frozenset[int]
    config_version: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Compact JSON, independent of the sender's incarnation."""
        return dump_json({"hears": sorted(self.hears), "cv": self.config_version,
                          "x": dict(self.extra)})

    @classmethod
    def from_bytes(cls, payload: bytes) -> HeartbeatPayload:
        """Parse a heartbeat body; BadPayload if any field is missing or mistyped."""
        doc = load_json(payload)
        hears, version, extra = doc.get("hears"), doc.get("cv"), doc.get("x", {})
        if not isinstance(hears, list) or not all(_is_int(h) for h in hears):
            raise BadPayload("heartbeat 'hears' must be a list of node ids")
        if not isinstance(version, int) or isinstance(version, bool):
            raise BadPayload("heartbeat 'cv' must be an integer")
        if not isinstance(extra, dict):
            raise BadPayload("heartbeat 'x' must be an object")
        return cls(hears=frozenset(hears), config_version=version, extra=extra)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def record_heartbeat(detector: FailureDetector, msg: Message, ring: int,
                     now: float) -> HeartbeatPayload:
    """Feed a verified HEARTBEAT into the detector; returns its parsed body."""
    body = HeartbeatPayload.from_bytes(msg.payload)
    detector.heard(msg.sender, ring, now, body.hears, incarnation=msg.incarnation)
    return body


@dataclass(frozen=True)
class HeartbeatStats:
    """How many beats went out and how late the loop woke up for them."""

    sent: int
    errors: int
    skipped: int
    max_lag_s: float
    mean_lag_s: float
    p99_lag_s: float = 0.0  # over the last LAG_WINDOW beats


class HeartbeatSender:
    """An asyncio task that sends a heartbeat every `interval_s` on every ring.

    `hears` must return the peers this node currently *hears* (the detector's
    `alive` set), not its members: membership is derived from these lists, so
    feeding members back in would make a lost peer impossible to re-admit.
    """

    def __init__(self, channel: Channel, *, interval_s: float, config_version: int,
                 hears: Callable[[], Iterable[int]] | None = None,
                 extra: Callable[[], Mapping[str, Any]] | None = None,
                 snapshot: Callable[[], tuple[Iterable[int], Mapping[str, Any]]]
                 | None = None, on_beat: Callable[[float], None] | None = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"heartbeat interval must be positive, got {interval_s}")
        self.channel = channel
        self.interval_s = interval_s
        self.config_version = config_version
        if (hears is None) == (snapshot is None):
            raise ValueError("give either `hears` (and `extra`) or `snapshot`")
        self._hears = hears
        self._extra = extra
        self._snapshot = snapshot  # hears and extra read together, from one reference
        self._encoded: tuple[tuple[frozenset[int], int, int], Mapping[str, Any], bytes] \
            | None = None  # (what it said, the claims object it said it from, the body)
        self._on_beat = on_beat  # after each beat, with its time (work riding on its wake)
        self._timer: asyncio.Handle | None = None
        self._deadline = 0.0
        self._rlog = RateLimitedLog(log)
        self._sent = self._errors = self._skipped = self._ticks = 0
        self._lag_sum = self._lag_max = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)

    def payload(self) -> bytes:
        """The body of the next heartbeat, built from the callbacks."""
        if self._snapshot is not None:
            hears, extra = self._snapshot()
        else:
            assert self._hears is not None
            hears, extra = self._hears(), self._extra() if self._extra is not None else {}
        # Most beats say what the last one said: encode only when something changed.
        key = (frozenset(hears), self.config_version, id(extra))
        if self._encoded is None or self._encoded[0] != key or self._encoded[1] is not extra:
            body = HeartbeatPayload(hears=key[0], config_version=self.config_version,
                                    extra=dict(extra)).to_bytes()
            self._encoded = (key, extra, body)
        return self._encoded[2]

    def beat(self) -> bool:
        """Send one heartbeat now; failures are counted and logged, never raised."""
        try:
            self.channel.send(MsgType.HEARTBEAT, self.payload())
        except (WireError, ValueError, TypeError) as exc:
            self._errors += 1
            self._rlog.warning("heartbeat not sent: %s", exc)
            return False
        except Exception:
            self._errors += 1
            self._rlog.log(logging.ERROR, "heartbeat not sent", exc_info=True)
            return False
        self._sent += 1
        return True

    async def run(self, count: int | None = None) -> None:
        """Beat on absolute deadlines until cancelled (or `count` beats were due)."""
        loop = asyncio.get_running_loop()
        self._deadline = loop.time()
        due = 0
        while count is None or due < count:
            delay = self._deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due += self._fire(loop.time())

    def _fire(self, now: float) -> int:
        """The beat due at `self._deadline`, at `now`; how many beats were due (this one
        and those skipped because the loop woke up more than a period late)."""
        self._record_lag(now - self._deadline)
        self.beat()
        self._deadline += self.interval_s
        missed = 0
        if self._deadline <= now:  # woke up more than a period late: skip, never burst
            missed = math.floor((now - self._deadline) / self.interval_s) + 1
            self._skipped += missed
            self._deadline += missed * self.interval_s
        if self._on_beat is not None:
            try:
                self._on_beat(now)
            except Exception:
                self._rlog.log(logging.ERROR, "after-beat work failed", exc_info=True)
        return 1 + missed

    def _record_lag(self, lag: float) -> None:
        lag = max(lag, 0.0)
        self._recent.append(lag)
        self._ticks += 1
        self._lag_sum += lag
        self._lag_max = max(self._lag_max, lag)

    def start(self) -> None:
        """Beat forever from the loop's timers (one wake-up a beat, no task) until
        `stop`."""
        if self._timer is not None:
            raise RuntimeError("heartbeat sender already running")
        loop = asyncio.get_running_loop()
        self._deadline = loop.time()
        self._timer = loop.call_soon(self._timed, loop)

    def _timed(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._fire(loop.time())
        finally:  # whatever happened, the next beat is due
            if self._timer is not None:
                self._timer = loop.call_at(self._deadline, self._timed, loop)

    @property
    def running(self) -> bool:
        return self._timer is not None

    async def stop(self) -> None:
        """Stop beating (no beat goes out after this returns)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def stats(self) -> HeartbeatStats:
        """Counts and scheduling lag so far."""
        mean = self._lag_sum / self._ticks if self._ticks else 0.0
        recent = sorted(self._recent)
        p99 = recent[min(len(recent) - 1, int(len(recent) * 0.99))] if recent else 0.0
        return HeartbeatStats(sent=self._sent, errors=self._errors, skipped=self._skipped,
                              max_lag_s=self._lag_max, mean_lag_s=mean, p99_lag_s=p99)
