"""Typed errors of the wire layer.

Every reason a packet can be refused has its own `BadPacket` subclass with a short
`reason` code, so the transport can count drops per cause without parsing messages.
"""

from __future__ import annotations

from tandem.common.errors import TandemError


class WireError(TandemError):
    """Base class of everything the wire layer raises."""


class KeyFileError(WireError):
    """The cluster key file cannot be created or used; the message names the file."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class TransportError(WireError):
    """A ring endpoint cannot be opened or asked to send."""


class PayloadTooLarge(WireError):
    """A message would not fit in one datagram of at most MAX_PACKET bytes."""


class BadPacket(WireError):
    """A received datagram is refused; `reason` is a stable code used in statistics."""

    reason = "bad_packet"


class TruncatedPacket(BadPacket):
    """Shorter than a header plus tag, or shorter than its declared payload."""

    reason = "truncated"


class OversizedPacket(BadPacket):
    """Longer than MAX_PACKET: never produced by a conforming sender."""

    reason = "oversized"


class BadMagic(BadPacket):
    """Not a tandem frame at all (some other protocol on our port)."""

    reason = "bad_magic"


class UnsupportedVersion(BadPacket):
    """A frame format this build does not speak (mixed versions during an upgrade)."""

    reason = "bad_version"


class WrongCluster(BadPacket):
    """A frame from another cell sharing the network."""

    reason = "wrong_cluster"


class BadMac(BadPacket):
    """The HMAC tag does not verify: wrong key, corruption or forgery."""

    reason = "bad_mac"


class MalformedPacket(BadPacket):
    """Authenticated, but its fields disagree with its length (a sender bug)."""

    reason = "malformed"


class UnknownType(BadPacket):
    """Authenticated, but of a message type this build does not know."""

    reason = "unknown_type"


class BadPayload(BadPacket):
    """Authenticated, but the payload is not the JSON document expected."""

    reason = "bad_payload"
