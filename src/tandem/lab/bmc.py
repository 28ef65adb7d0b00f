"""A virtual BMC for lab nodes that speaks real IPMI v2.0 over LAN (RMCP+, "lanplus").

Fencing in the lab must go through the same wire protocol as on real hardware, so that
`ipmitool -I lanplus`, `fence_ipmilan --lanplus` and our own fence devices are tested
for real. The server builds on `pyghmi.ipmi.bmc.Bmc` (its request dispatch and chassis
commands) and on pyghmi's session code (packet integrity, AES, framing), but owns three
things pyghmi's stock server gets wrong for us:

* cipher suites: pyghmi's server always answers with cipher suite 3 (SHA-1) whatever the
  client proposed. Debian's ipmitool picks suite 17 (SHA-256) when offered, and
  pyghmi's own client proposes 17 first and then checks a SHA-256 RAKP2 against a SHA-1
  one (the "RAKP2 hash length mismatch"). Here suites 3 and 17 are both negotiated
  honestly, and anything else is refused with the RMCP+ status code for it.
* authentication errors are answered (unknown user: RAKP2 "unauthorized name"; wrong
  password: RAKP4 "invalid integrity check value") instead of being silently dropped,
  so that clients fail fast instead of retrying until their timeout.
* the I/O loop: pyghmi's server shares a process-wide I/O thread that sleeps for up to
  300 s; this server owns its socket and runs a `select` loop with bounded waits, so it
  stops promptly when asked and several servers can live in one process.

A retransmitted request (ipmitool sends a request again, same request number, when
the answer is late, e.g. while a slow power-off runs) gets the first answer again, so
a power action is never applied twice because of a client's retry.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import select
import socket
import struct
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import session as pyghmi_session

log = logging.getLogger(__name__)

BMC_ADDRESS = 0x20
USER_LEVEL, OPERATOR, ADMIN = 2, 3, 4
MAX_SESSIONS = 32
SESSION_IDLE_S = 60.0
POLL_S = 0.2
EVENT_HISTORY = 1000

# RMCP+ status codes (IPMI v2.0 table 13-15) that this server answers with.
RMCP_INVALID_SESSION = 0x02
RMCP_UNAUTHORIZED_NAME = 0x0D
RMCP_INVALID_ICV = 0x0F
RMCP_NO_CIPHER_MATCH = 0x11

# IPMI completion codes.
CC_OK = 0x00
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_UNSPECIFIED = 0xFF


class PowerSwitch(Protocol):
    """What the BMC switches: the lab supplies one that kills or boots a node."""

    def is_on(self) -> bool: ...

    def power_off(self) -> None: ...

    def power_on(self) -> None: ...


@dataclass(frozen=True)
class CipherSuite:
    """An RMCP+ cipher suite: algorithm numbers and the hash they are built on."""

    number: int
    auth: int
    integrity: int
    confidentiality: int
    hash: Callable[..., Any]
    icv_len: int

    def record(self) -> bytes:
        """The suite as listed by "Get Channel Cipher Suites" (IPMI v2.0 table 22-19)."""
        return bytes([0xC0, self.number, self.auth, 0x40 | self.integrity,
                      0x80 | self.confidentiality])


SUITES = (
    CipherSuite(17, auth=3, integrity=4, confidentiality=1, hash=hashlib.sha256, icv_len=16),
    CipherSuite(3, auth=1, integrity=1, confidentiality=1, hash=hashlib.sha1, icv_len=12),
)


@dataclass(frozen=True)
class PowerEvent:
    """One power request as the BMC saw it (wall-clock time, action, requester)."""

    time: float
    action: str
    source: str | None
    outcome: str


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def _format_addr(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


@dataclass(frozen=True)
class _PlainRequest:
    """A session-less IPMI request (before RMCP+ is set up)."""

    v2: bool
    netfn: int
    rqaddr: int
    rqseq_lun: int
    command: int
    data: bytes


def _parse_plain(packet: bytes) -> _PlainRequest | None:
    """Decode an unauthenticated IPMI 1.5 or 2.0 packet, or None if it is not one."""
    if len(packet) < 20 or packet[:4] != b"\x06\x00\xff\x07":
        return None
    if packet[4] == 0x06:
        if packet[5] != 0 or packet[6:10] != b"\0\0\0\0":
            return None
        msg = packet[16:16 + (packet[14] | packet[15] << 8)]
        v2 = True
    elif packet[4] == 0x00:
        msg = packet[14:14 + packet[13]]
        v2 = False
    else:
        return None
    if len(msg) < 7:
        return None
    return _PlainRequest(v2=v2, netfn=msg[1] >> 2, rqaddr=msg[3], rqseq_lun=msg[4],
                         command=msg[5], data=bytes(msg[6:-1]))


def _plain_response(req: _PlainRequest, code: int, data: bytes) -> bytes:
    """Encode the answer to a session-less request in the request's own format."""
    head = bytes([req.rqaddr, ((req.netfn + 1) << 2) | (req.rqseq_lun & 3)])
    body = bytes([BMC_ADDRESS, req.rqseq_lun & 0xFC, req.command, code]) + data
    msg = head + bytes([_checksum(head)]) + body + bytes([_checksum(body)])
    if req.v2:
        return b"\x06\x00\xff\x07\x06\x00" + bytes(8) + struct.pack("<H", len(msg)) + msg
    return b"\x06\x00\xff\x07\x00" + bytes(8) + bytes([len(msg)]) + msg


def _pick_suite(proposal: bytes) -> CipherSuite | None:
    """The suite matching an Open Session Request's three algorithm payloads."""
    if len(proposal) < 24:
        return None
    auth, integrity, conf = (proposal[i * 8 + 4] & 0x3F for i in range(3))
    for suite in SUITES:
        if (suite.auth, suite.integrity, suite.confidentiality) == (auth, integrity, conf):
            return suite
    return None


class _LanSession(pyghmi_session.Session):  # type: ignore[misc]
    """One RMCP+ session with one client address.

    Set-up (open session, RAKP 1-4) is done here with the negotiated suite's hash;
    once established, pyghmi's Session code checks integrity, decrypts and frames.
    """

    def __new__(cls, *_args: Any, **_kwargs: Any) -> _LanSession:
        # pyghmi's Session.__new__ looks up cached client sessions; a server has none.
        return object.__new__(cls)

    def __init__(self, server: VirtualBmc, sockaddr: Any, packet: bytes) -> None:
        self.server = server
        self.socket = server.socket
        self.sockaddr = sockaddr
        self.servermode = True
        self.ipmiversion = 2.0
        self.authtype = 6
        self.rqaddr = BMC_ADDRESS
        self.rqlun = 0
        self.sequencenumber = 0
        self.sessionid = 0
        self.localsid = 0
        self.integrityalgo: Any = 0
        self.confalgo: Any = 0
        self.k1: bytes | None = None
        self.aeskey: bytes | None = None
        self.remseqnumber: int | None = None
        self.lastpayload: Any = None
        self.last_payload_type: int | None = None
        self.netpacket: Any = None
        self.pendingpayloads: deque[Any] = deque()
        self.pktqueue: deque[Any] = deque()
        self._customkeepalives = None
        self.broken = False
        self.ipmicallback: Callable[[dict[str, Any]], None] | None = None
        self.last_seen = time.monotonic()
        self.suite: CipherSuite | None = None
        self.kuid: bytes | None = None
        self.privilege = 0
        self.max_privilege = 0
        self._open_packet = bytes(packet)
        self._open_reply = b""
        self._rakp4_reply = b""
        self._last_request: tuple[int, int, int, bytes] | None = None
        self._last_answer: tuple[int, bytes] | None = None
        self._open(bytes(packet[16:]))

    # -- set-up --------------------------------------------------------------

    def _send_setup(self, payload_type: int, payload: bytes) -> bytes:
        self.send_payload(bytearray(payload), payload_type, retry=False)
        return bytes(self.netpacket)

    def _open(self, req: bytes) -> None:
        if len(req) < 8:
            self.broken = True
            return
        tag = req[0]
        self.clientsessionid = req[4:8]
        self.suite = _pick_suite(req[8:32])
        if self.suite is None:
            self._open_reply = self._send_setup(
                0x11, bytes([tag, RMCP_NO_CIPHER_MATCH, 0, 0]) + self.clientsessionid)
            self.broken = True
            return
        self.managedsessionid = b"\0\0\0\0"
        while self.managedsessionid == b"\0\0\0\0":
            self.managedsessionid = os.urandom(4)
        self.localsid = struct.unpack("<I", self.managedsessionid)[0]
        granted = min(req[1] & 0x0F or ADMIN, ADMIN)
        s = self.suite
        algorithms = bytes([0, 0, 0, 8, s.auth, 0, 0, 0,
                            1, 0, 0, 8, s.integrity, 0, 0, 0,
                            2, 0, 0, 8, s.confidentiality, 0, 0, 0])
        self._open_reply = self._send_setup(
            0x11, bytes([tag, 0, granted, 0]) + self.clientsessionid
            + self.managedsessionid + algorithms)

    def repeat_open(self, packet: bytes) -> bool:
        """Answer a retransmitted Open Session Request again; False if it is a new one."""
        if packet != self._open_packet or not self._open_reply:
            return False
        pyghmi_session._io_sendto(self.socket, self._open_reply, self.sockaddr)
        return True

    def _mac(self, key: bytes, data: bytes) -> bytes:
        assert self.suite is not None
        return hmac.new(key, data, self.suite.hash).digest()

    def _got_rakp1(self, data: bytearray) -> None:
        if self.suite is None or self.k1 is not None or len(data) < 28:
            return
        tag = data[0]
        if bytes(data[4:8]) != self.managedsessionid:
            self._send_setup(0x13, bytes([tag, RMCP_INVALID_SESSION, 0, 0])
                             + self.clientsessionid)
            return
        self.rm = bytes(data[8:24])
        self.role = data[24]
        self.username = bytes(data[28:28 + data[27]])
        self.kuid = self.server.credential(self.username)
        if self.kuid is None:
            log.warning("BMC %s: unknown user %r from %s", self.server.address,
                        self.username.decode(errors="replace"), _format_addr(self.sockaddr))
            self._send_setup(0x13, bytes([tag, RMCP_UNAUTHORIZED_NAME, 0, 0])
                             + self.clientsessionid)
            self.server.drop(self)
            return
        self.max_privilege = min(self.role & 0x0F or ADMIN, ADMIN)
        self.rc = os.urandom(16)
        guid = self.server.uuid.bytes
        authcode = self._mac(self.kuid, self.clientsessionid + self.managedsessionid
                             + self.rm + self.rc + guid + self._role_and_name())
        self._send_setup(0x13, bytes([tag, 0, 0, 0]) + self.clientsessionid + self.rc
                         + guid + authcode)

    def _role_and_name(self) -> bytes:
        return bytes([self.role, len(self.username)]) + self.username

    def _got_rakp3(self, data: bytearray) -> None:
        if self._rakp4_reply:  # our RAKP4 was lost and the client asks again
            pyghmi_session._io_sendto(self.socket, self._rakp4_reply, self.sockaddr)
            return
        if self.suite is None or self.kuid is None or len(data) < 8:
            return
        tag = data[0]
        if data[1] != 0:  # the client rejected our RAKP2 (e.g. its password differs)
            self.server.drop(self)
            return
        expected = self._mac(self.kuid, self.rc + self.clientsessionid + self._role_and_name())
        if not hmac.compare_digest(expected, bytes(data[8:])):
            log.warning("BMC %s: wrong password for %r from %s", self.server.address,
                        self.username.decode(errors="replace"), _format_addr(self.sockaddr))
            self._send_setup(0x15, bytes([tag, RMCP_INVALID_ICV, 0, 0]) + self.clientsessionid)
            self.server.drop(self)
            return
        sik = self._mac(self.kuid, self.rm + self.rc + self._role_and_name())
        icv = self._mac(sik, self.rm + self.managedsessionid + self.server.uuid.bytes)
        self._rakp4_reply = self._send_setup(
            0x15, bytes([tag, 0, 0, 0]) + self.clientsessionid + icv[:self.suite.icv_len])
        self.k1 = self._mac(sik, b"\x01" * 20)
        self.aeskey = self._mac(sik, b"\x02" * 20)[:16]
        self.currhashlib = self.suite.hash
        self.currhashlen = self.suite.icv_len
        self.integrityalgo = self.suite.integrity
        self.confalgo = "aes"
        self.sequencenumber = 1
        self.sessionid = struct.unpack("<I", self.clientsessionid)[0]
        self.privilege = USER_LEVEL  # sessions start at User level until raised
        self.ipmicallback = self._on_request

    def _got_rmcp_openrequest(self, data: bytearray) -> None:
        """Open requests are routed by the server, never through an existing session."""

    # -- established session --------------------------------------------------

    def handle(self, packet: bytes) -> None:
        """Feed one RMCP+ packet from this session's client."""
        self.last_seen = time.monotonic()
        self._handle_ipmi2_packet(bytearray(packet))

    def _on_request(self, request: dict[str, Any]) -> None:
        netfn, command = request["netfn"], request["command"]
        # A client numbers each new request; the same number twice in a row is a
        # retransmission (our answer was late or lost): answer again, do not act again.
        key = (self.seqlun, netfn, command, bytes(request["data"]))
        if key == self._last_request and self._last_answer is not None:
            code, data = self._last_answer
            self._send_ipmi_net_payload(data=data, code=code)
            return
        self._last_request, self._last_answer = key, None
        if netfn == 6 and command == 0x3B:
            self._set_privilege(bytes(request["data"]))
        elif netfn == 6 and command == 0x3C:
            self.send_ipmi_response()
            self.server.drop(self)
        else:
            self.server.handle_raw_request(request, self)

    def _set_privilege(self, data: bytes) -> None:
        wanted = data[0] & 0x0F if data else 0
        if wanted == 0:
            self.send_ipmi_response(data=[self.privilege])
        elif wanted > self.max_privilege:
            self.send_ipmi_response(code=0x81)
        else:
            self.privilege = wanted
            self.send_ipmi_response(data=[wanted])

    def send_ipmi_response(self, data: Any = (), code: int = 0) -> None:
        """Answer the request being handled (the interface pyghmi's Bmc calls)."""
        self._last_answer = (code, bytes(data))
        self._send_ipmi_net_payload(data=data, code=code)


class VirtualBmc(pyghmi_bmc.Bmc):  # type: ignore[misc]
    """An IPMI v2.0 BMC on one UDP address that switches a `PowerSwitch`.

    One user (administrator). Power requests run synchronously in the serving thread,
    so the answer to "power off" is sent once the switch reports the node off, and a
    status read after it is truthful.
    """

    def __init__(self, address: str, port: int, user: str, password: str,
                 power: PowerSwitch, *, guid: uuid.UUID | None = None) -> None:
        # IpmiServer.__init__ is deliberately not called: it binds through pyghmi's
        # process-wide I/O thread, which this class replaces with its own loop.
        self.address = address
        self.power = power
        self.uuid = guid or uuid.uuid4()
        self._user = user.encode()
        self._password = password.encode()
        self.events: deque[PowerEvent] = deque(maxlen=EVENT_HISTORY)
        self._sessions: OrderedDict[Any, _LanSession] = OrderedDict()
        self._source: str | None = None
        self.socket = self._bind(address, port)
        self.port: int = self.socket.getsockname()[1]

    @staticmethod
    def _bind(address: str, port: int) -> socket.socket:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            address or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind(sockaddr)
        except OSError:
            sock.close()
            raise
        return sock

    def credential(self, username: bytes) -> bytes | None:
        """The password (Kuid) of `username`, or None for an unknown user."""
        return self._password if hmac.compare_digest(username, self._user) else None

    # -- serving ----------------------------------------------------------------

    def serve(self, stop: threading.Event, poll_s: float = POLL_S) -> None:
        """Answer requests until `stop` is set (checked at least every `poll_s`)."""
        while not stop.is_set():
            readable, _, _ = select.select([self.socket], [], [], poll_s)
            if readable:
                self._drain()
            self._expire_sessions()

    def _drain(self) -> None:
        for _ in range(64):  # bounded so that the stop flag is checked regularly
            try:
                packet, sockaddr = self.socket.recvfrom(4096, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            try:
                self._dispatch(packet, sockaddr)
            except Exception:  # one bad packet must not stop the BMC
                log.exception("BMC %s: error handling a packet from %s", self.address,
                              _format_addr(sockaddr))

    def _dispatch(self, packet: bytes, sockaddr: Any) -> None:
        if len(packet) < 16 or packet[:4] != b"\x06\x00\xff\x07":
            return
        if packet[4] == 0x06:
            payload_type = packet[5] & 0x3F
            session = self._sessions.get(sockaddr)
            if payload_type == 0x10:
                if session is None or not session.repeat_open(packet):
                    self._new_session(packet, sockaddr)
                return
            if packet[6:10] != b"\0\0\0\0" or payload_type in (0x12, 0x14):
                if session is not None:
                    session.handle(packet)
                return
        request = _parse_plain(packet)
        if request is not None and request.netfn == 6:
            self._answer_plain(request, sockaddr)

    def _new_session(self, packet: bytes, sockaddr: Any) -> None:
        self._sessions.pop(sockaddr, None)
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        session = _LanSession(self, sockaddr, packet)
        if not session.broken:
            self._sessions[sockaddr] = session

    def drop(self, session: _LanSession) -> None:
        """Forget a closed or failed session."""
        if self._sessions.get(session.sockaddr) is session:
            del self._sessions[session.sockaddr]

    def _expire_sessions(self) -> None:
        deadline = time.monotonic() - SESSION_IDLE_S
        for addr, session in list(self._sessions.items()):
            if session.last_seen < deadline:
                del self._sessions[addr]

    def _answer_plain(self, req: _PlainRequest, sockaddr: Any) -> None:
        if req.command == 0x38:  # Get Channel Authentication Capabilities
            # channel 1; IPMI v2.0 extended data; non-null user names; v2.0 supported
            reply = _plain_response(req, CC_OK, bytes([1, 0x80, 0x04, 0x02, 0, 0, 0, 0]))
        elif req.command == 0x54:  # Get Channel Cipher Suites
            index = (req.data[2] & 0x3F) if len(req.data) > 2 else 0
            records = b"".join(s.record() for s in SUITES)
            reply = _plain_response(req, CC_OK, b"\x01" + records[index * 16:index * 16 + 16])
        else:
            reply = _plain_response(req, 0xC1, b"")
        pyghmi_session._io_sendto(self.socket, reply, sockaddr)

    def close(self) -> None:
        """Release the socket and forget every session."""
        self._sessions.clear()
        self.socket.close()

    # -- IPMI commands ------------------------------------------------------------

    def handle_raw_request(self, request: dict[str, Any], session: _LanSession) -> None:
        """Answer one authenticated request (called by the session)."""
        key = (request["netfn"], request["command"])
        if key == (6, 0x01):
            self.send_device_id(session)
        elif key in ((6, 0x08), (6, 0x37)):  # Get Device GUID, Get System GUID
            session.send_ipmi_response(data=self.uuid.bytes_le)
        elif key == (0, 0x01):
            self.get_chassis_status(session)
        elif key == (0, 0x02) and session.privilege < OPERATOR:
            session.send_ipmi_response(code=CC_INSUFFICIENT_PRIVILEGE)
        elif key == (0, 0x02):
            self._source = _format_addr(session.sockaddr)
            try:
                self.control_chassis(request, session)
            finally:
                self._source = None
        else:
            session.send_ipmi_response(code=0xC1)

    def send_device_id(self, session: _LanSession) -> None:
        """Get Device ID (what `ipmitool mc info` shows), laid out per IPMI table 20-2."""
        session.send_ipmi_response(data=[
            0x20, 0x01,    # device id, device revision
            0x01, 0x00,    # firmware 1.00 (major, BCD minor)
            0x02,          # IPMI version 2.0
            0x80,          # additional device support: chassis device
            0x00, 0x00, 0x00,  # manufacturer id (none)
            0x74, 0x64,    # product id ("td")
            0x00, 0x00, 0x00, 0x00,  # auxiliary firmware revision
        ])

    def get_chassis_status(self, session: _LanSession) -> None:
        """Get Chassis Status: bit 0 of the first byte is "power is on"."""
        try:
            on = self.power.is_on()
        except Exception:
            log.exception("BMC %s: power switch status failed", self.address)
            session.send_ipmi_response(code=CC_UNSPECIFIED)
            return
        session.send_ipmi_response(data=[1 if on else 0, 0, 0])

    def get_power_state(self) -> str:
        """Power state in pyghmi's vocabulary."""
        return "on" if self.power.is_on() else "off"

    def power_off(self) -> int:
        """Chassis Control "power down"."""
        return self._act("off", self._switch_off)

    def power_on(self) -> int:
        """Chassis Control "power up"."""
        return self._act("on", self._switch_on)

    def power_cycle(self) -> int:
        """Chassis Control "power cycle": off, then on."""
        return self._act("cycle", self._switch_cycle)

    def power_reset(self) -> int:
        """Chassis Control "hard reset": the lab has no warm reset, so off then on."""
        return self._act("reset", self._switch_cycle)

    def power_shutdown(self) -> int:
        """Chassis Control "soft shutdown": lab nodes have no ACPI, so treat it as off."""
        return self._act("soft", self._switch_off)

    def _switch_off(self) -> str:
        if not self.power.is_on():
            return "already off"
        self.power.power_off()
        return "off"

    def _switch_on(self) -> str:
        if self.power.is_on():
            return "already on"
        self.power.power_on()
        return "on"

    def _switch_cycle(self) -> str:
        self._switch_off()
        self.power.power_on()
        return "cycled"

    def _act(self, action: str, switch: Callable[[], str]) -> int:
        code = CC_OK
        began = time.monotonic()
        try:
            outcome = switch()
        except Exception as exc:
            outcome = f"failed: {exc}"
            code = CC_UNSPECIFIED
        event = PowerEvent(time=time.time(), action=action, source=self._source,
                           outcome=outcome)
        self.events.append(event)
        log.info("BMC %s: power %s from %s: %s (switched in %.0f ms)", self.address, action,
                 event.source or "?", outcome, (time.monotonic() - began) * 1000)
        return code


def run_bmc(  # noqa: PLR0917 (the lab calls it with this positional signature)
    address: str, port: int, user: str, password: str, power: PowerSwitch,
    stop: threading.Event | None = None,
) -> None:
    """Serve a VirtualBmc on `address`:`port` until `stop` is set (forever if None)."""
    bmc = VirtualBmc(address, port, user, password, power)
    try:
        bmc.serve(stop if stop is not None else threading.Event())
    finally:
        bmc.close()
