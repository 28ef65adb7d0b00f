"""Record the UDP datagrams of one port as they cross a lab's bridges.

Run inside the lab's fabric namespace (where the bridges are; never on the host):

    python -m tandem.lab.wiretap --port P [--seconds S] [--limit N]

A packet socket for every protocol there sees every frame on every port of every bridge
(one bound to IPv4 alone would not: a bridge takes its frames before any protocol
handler), so each datagram shows up more than once (leaving one port, entering another):
each distinct one is printed once, as a JSON line {"src": IP, "dst": IP, "hex":
PAYLOAD}. IPv4 only; pieces of fragmented datagrams are skipped (heartbeats are far
below the MTU).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import struct
import sys
import time
from typing import NamedTuple

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
_ETH_HEADER = 14
_UDP = 17
_MORE_FRAGMENTS = 0x2000
_OFFSET_MASK = 0x1FFF


class Datagram(NamedTuple):
    src: str
    dst: str
    payload: bytes


def udp_datagram(frame: bytes, port: int) -> Datagram | None:
    """The UDP datagram to `port` in an Ethernet frame, if it carries a whole one."""
    if len(frame) < _ETH_HEADER + 20 or frame[12:14] != ETH_P_IP.to_bytes(2, "big"):
        return None
    ip = frame[_ETH_HEADER:]
    if ip[0] >> 4 != 4 or ip[9] != _UDP:
        return None
    header = (ip[0] & 0x0F) * 4
    (fragment,) = struct.unpack_from("!H", ip, 6)
    if fragment & (_MORE_FRAGMENTS | _OFFSET_MASK) or len(ip) < header + 8:
        return None
    _sport, dport, length = struct.unpack_from("!HHH", ip, header)
    if dport != port or length < 8 or header + length > len(ip):
        return None
    return Datagram(str(ipaddress.IPv4Address(ip[12:16])),
                    str(ipaddress.IPv4Address(ip[16:20])),
                    bytes(ip[header + 8:header + length]))


def record(port: int, seconds: float, limit: int) -> list[Datagram]:
    """Distinct datagrams to `port` seen within `seconds` (at most `limit`)."""
    found: list[Datagram] = []
    seen: set[bytes] = set()
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.settimeout(0.1)
        while time.monotonic() < deadline and len(found) < limit:
            try:
                frame = sock.recv(65_535)
            except TimeoutError:
                continue
            datagram = udp_datagram(frame, port)
            if datagram is not None and datagram.payload not in seen:
                seen.add(datagram.payload)
                found.append(datagram)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tandem.lab.wiretap")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    for datagram in record(args.port, args.seconds, args.limit):
        print(json.dumps({"src": datagram.src, "dst": datagram.dst,
                          "hex": datagram.payload.hex()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
