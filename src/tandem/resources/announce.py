"""Telling the neighbours that an address moved: gratuitous ARP (IPv4) and unsolicited
neighbour advertisement (IPv6), sent from raw sockets in-process.

Forking `arping -U -c 1` takes a full second (it waits out its interval; measured in a
lab node), an in-process packet well under a millisecond; a failover waits for the
first announcement, so it is built and sent here directly. The packets carry the
override flag (NA) or sender = target (ARP), which is what makes a Linux neighbour
replace a cached entry at once, even inside its lock time.
"""

from __future__ import annotations

import fcntl
import functools
import ipaddress
import socket
import struct

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ICMPV6_NA = 136
NA_FLAG_OVERRIDE = 0x20000000
OPT_TARGET_LLADDR = 2
SIOCGIFHWADDR = 0x8927
MIN_FRAME = 60  # Ethernet minimum without the FCS


def interface_mac(ifname: str) -> bytes:
    """The hardware address of `ifname` in our network namespace (asks the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        info = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR,
                           struct.pack("256s", ifname.encode()[:15]))
    return info[18:24]


def garp_frame(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """An Ethernet broadcast ARP request with sender and target both set to `address`."""
    ip = address.packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\x00" * 6, ip)
    frame = BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp
    return frame.ljust(MIN_FRAME, b"\x00")


@functools.cache
def _packet_socket() -> socket.socket:
    """One packet socket for the life of the process. Closing a packet socket waits for
    an RCU grace period (10-25 ms measured), which a failover should not pay for each
    announcement; with protocol 0 it receives nothing, so keeping it costs nothing."""
    return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)


def send_garp(ifname: str, address: ipaddress.IPv4Address) -> None:
    """One gratuitous ARP on `ifname`."""
    frame = garp_frame(interface_mac(ifname), address)
    _packet_socket().sendto(frame, (ifname, ETH_P_ARP))


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
        # Receivers drop neighbour discovery that did not come with hop limit 255.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.sendto(na_message(mac, address), ("ff02::1", 0, 0, index))


def announce(ifname: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Announce `address` on `ifname` once, by the means its family uses (OSError if the
    packet cannot be sent)."""
    if isinstance(address, ipaddress.IPv4Address):
        send_garp(ifname, address)
    else:
        send_unsolicited_na(ifname, address)
