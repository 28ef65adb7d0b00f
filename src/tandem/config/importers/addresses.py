"""Where the imported nodes' addresses come from.

Other cluster stacks name nodes by host name; a tandem cell needs each node's interface
and address on every heartbeat network. The operator gives them (`--address
NODE=NET:IF:ADDR/PREFIX`), or asks for host names to be resolved (`--resolve
NET:IF/PREFIX`, the system resolver, once per name). Nothing is ever guessed: a missing
address becomes a value to fill in, and the import says so.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from tandem.config.importers.errors import OptionError

IpInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Resolver = Callable[[str], str | None]
_NET_RE = r"[A-Za-z][A-Za-z0-9_-]{0,31}"
_IF_RE = r"[A-Za-z][A-Za-z0-9_.-]{0,14}"


@dataclass(frozen=True)
class AddressSpec:
    """One node's interface and address on one network, as the operator gave it."""

    node: str
    network: str
    interface: str
    address: IpInterface


@dataclass(frozen=True)
class ResolveSpec:
    """Resolve node host names onto `network`, on `interface`, with `prefix`."""

    network: str
    interface: str
    prefix: int

    def interface_address(self, address: str) -> IpInterface:
        return ipaddress.ip_interface(f"{address}/{self.prefix}")


def parse_address(text: str) -> AddressSpec:
    """`NODE=NET:IF:ADDR/PREFIX`; OptionError naming what is wrong."""
    node, sep, rest = text.partition("=")
    parts = rest.split(":", 2)
    if not sep or not node or len(parts) != 3:
        raise OptionError(f"--address {text!r}: expected NODE=NETWORK:INTERFACE:ADDRESS/"
                          f"PREFIX, e.g. node1=admin:eth0:198.51.100.11/24")
    network, interface, address = parts
    _check_names(f"--address {text!r}", network, interface)
    return AddressSpec(node, network, interface, _interface_address(text, address))


def parse_resolve(text: str) -> ResolveSpec:
    """`NET:IF/PREFIX`; OptionError naming what is wrong."""
    network, sep, rest = text.partition(":")
    interface, slash, prefix = rest.partition("/")
    if not sep or not slash or not prefix.isdigit():
        raise OptionError(f"--resolve {text!r}: expected NETWORK:INTERFACE/PREFIX, "
                          f"e.g. admin:eth0/24")
    _check_names(f"--resolve {text!r}", network, interface)
    if int(prefix) > 128:
        raise OptionError(f"--resolve {text!r}: prefix {prefix} is not a prefix length")
    return ResolveSpec(network, interface, int(prefix))


def _check_names(where: str, network: str, interface: str) -> None:
    if not re.fullmatch(_NET_RE, network):
        raise OptionError(f"{where}: network name {network!r} must match {_NET_RE}")
    if not re.fullmatch(_IF_RE, interface):
        raise OptionError(f"{where}: interface name {interface!r} must match {_IF_RE}")


def _interface_address(where: str, text: str) -> IpInterface:
    if "/" not in text:
        raise OptionError(f"--address {where!r}: address {text!r} needs a prefix length "
                          f"(ADDRESS/PREFIX)")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise OptionError(f"--address {where!r}: {text!r} is not an address/prefix") \
            from None


def system_resolver(name: str) -> str | None:
    """The first address the system resolver gives for `name` (None if none)."""
    try:
        answers = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    for _family, _type, _proto, _canon, sockaddr in answers:
        return str(sockaddr[0])
    return None


def usable_address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`text` as an address a node can have on a network (not loopback, multicast or
    unspecified), else None."""
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.is_loopback or address.is_multicast or address.is_unspecified:
        return None
    return address
