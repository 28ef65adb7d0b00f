"""The announcement packets of the ip agent, byte by byte (what a Linux neighbour needs
to replace its cache entry: ARP sender = target; NA override flag and target MAC)."""

from __future__ import annotations

import ipaddress
import struct

from tandem.resources.announce import garp_frame, interface_mac, na_message


def test_gratuitous_arp_frame() -> None:
    mac = bytes.fromhex("020000000001")
    frame = garp_frame(mac, ipaddress.IPv4Address("198.51.100.50"))
    assert len(frame) == 60  # padded to the Ethernet minimum
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack(
        "!HHBBH6s4s6s4s", frame[14:42])
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)  # Ethernet/IPv4 request
    assert sha == mac and tha == b"\x00" * 6
    assert spa == tpa == bytes([198, 51, 100, 50])
    assert frame[42:] == b"\x00" * 18


def test_neighbour_advertisement() -> None:
    mac = bytes.fromhex("020000000002")
    target = ipaddress.IPv6Address("2001:db8:100::50")
    msg = na_message(mac, target)
    kind, code, checksum, flags = struct.unpack("!BBHI", msg[:8])
    assert (kind, code, checksum) == (136, 0, 0)  # the kernel fills the checksum
    assert flags == 0x20000000  # override, not solicited, not a router
    assert msg[8:24] == target.packed
    assert msg[24:26] == b"\x02\x01" and msg[26:] == mac  # target link-layer address


def test_interface_mac_asks_the_kernel() -> None:
    assert interface_mac("lo") == b"\x00" * 6
