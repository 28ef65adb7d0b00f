"""Telling the neighbours that an address moved: gratuitous ARP (IPv4) and unsolicited
neighbour advertisement (IPv6), sent from raw sockets in-process.

Forking `arping` costs a few milliseconds per packet on a loaded node; a failover waits
for the first announcement, so it is built and sent here directly.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ICMPV6_NA = 136
NA_FLAG_OVERRIDE = 0x20000000
OPT_TARGET_LLADDR = 2


def interface_mac(ifname: str) -> bytes:
    """The hardware address of `ifname` (from sysfs, or the kernel via SIOCGIFHWADDR)."""
    path = Path(f"/sys/class/net/{ifname}/address")
    try:
        return bytes.fromhex(path.read_text().strip().replace(":", ""))
    except (OSError, ValueError):
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            info = fcntl.ioctl(sock.fileno(), 0x8927,  # SIOCGIFHWADDR
                               struct.pack("256s", ifname.encode()[:15]))
        return info[18:24]


def garp_frame(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """An Ethernet broadcast ARP request with sender and target both set to `address`."""
    ip = address.packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\x00" * 6, ip)
    return BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp


def send_garp(ifname: str, address: ipaddress.IPv4Address) -> None:
    """One gratuitous ARP on `ifname`."""
    mac = interface_mac(ifname)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((ifname, ETH_P_ARP))
        sock.send(garp_frame(mac, address))


def na_message(mac: bytes, address: ipaddress.IPv6Address) -> bytes:
    """ICMPv6 neighbour advertisement (override flag, target link-layer option); the
    kernel fills in the checksum of a raw ICMPv6 socket."""
    header = struct.pack("!BBHI", ICMPV6_NA, 0, 0, NA_FLAG_OVERRIDE)
    option = struct.pack("!BB", OPT_TARGET_LLADDR, 1) + mac
    return header + address.packed + option


def send_unsolicited_na(ifname: str, address: ipaddress.IPv6Address) -> None:
    """One unsolicited neighbour advertisement to all nodes (ff02::1) on `ifname`."""
    mac = interface_mac(ifname)
    index = socket.if_nametoindex(ifname)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.sendto(na_message(mac, address), ("ff02::1", 0, 0, index))


def announce(ifname: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Announce `address` on `ifname` once, by the means its family uses."""
    if isinstance(address, ipaddress.IPv4Address):
        send_garp(ifname, address)
    else:
        send_unsolicited_na(ifname, address)
