"""Interface addresses over netlink (pyroute2). Blocking calls: agents run them through
`asyncio.to_thread`. One netlink socket, opened on first use in the network namespace of
the process and kept (opening one costs more than the query: it was a third of an idle
daemon's CPU with an address monitored every two seconds); a lock serialises its users."""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tandem.common.errors import TandemError

EEXIST, ENODEV, ERANGE, EADDRNOTAVAIL = 17, 19, 34, 99
_lock = threading.Lock()
_socket: IPRoute | None = None


@contextlib.contextmanager
def _netlink() -> Iterator[IPRoute]:
    """The shared netlink socket, for one caller at a time; a socket that failed is
    dropped and reopened by the next caller."""
    global _socket  # noqa: PLW0603 - one socket per process, by design
    with _lock:
        if _socket is None:
            _socket = IPRoute()
        try:
            yield _socket
        except (OSError, NetlinkError) as exc:
            if not isinstance(exc, NetlinkError):
                with contextlib.suppress(OSError):
                    _socket.close()
                _socket = None
            raise
IFF_UP = 0x1
IFA_F_NODAD = 0x02
IpInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class AddressError(TandemError):
    """Netlink refused an address change; the message is one line."""


@dataclass(frozen=True)
class Link:
    """An interface as the kernel reports it."""

    index: int
    up: bool
    operstate: str

    @property
    def usable(self) -> bool:
        """Administratively up with a carrier (UNKNOWN: drivers that do not report it)."""
        return self.up and self.operstate in ("UP", "UNKNOWN")


@dataclass(frozen=True)
class AddressView:
    """Where one address is configured in this network namespace."""

    link: Link | None                 # the wanted interface (None: it does not exist)
    prefixes: tuple[int, ...]         # prefix lengths the address has on that interface
    elsewhere: tuple[str, ...]        # other interfaces that carry the address


def view(ifname: str, ip: str) -> AddressView:
    """The wanted interface and where `ip` is configured."""
    with _netlink() as ipr:
        link = _link_named(ipr, ifname)
        carriers = [(a["index"], a["prefixlen"]) for a in ipr.get_addr()
                    if a.get_attr("IFA_ADDRESS") == ip]
        others = sorted({index for index, _ in carriers if link is None or index != link.index})
        names = tuple(str(ipr.get_links(i)[0].get_attr("IFLA_IFNAME")) for i in others)
    prefixes = tuple(p for i, p in carriers if link is not None and i == link.index)
    return AddressView(link, prefixes, names)


def _link_named(ipr: IPRoute, ifname: str) -> Link | None:
    """One RTM_GETLINK by name (half the cost of a lookup then a get, and monitors run
    this every few seconds); None if there is no such interface."""
    try:
        msg = ipr.link("get", ifname=ifname)[0]
    except NetlinkError as exc:
        if exc.code in (ENODEV, ERANGE):  # ERANGE: a name too long to exist
            return None
        raise
    return Link(int(msg["index"]), bool(msg["flags"] & IFF_UP),
                str(msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN"))


def add(index: int, address: IpInterface, label: str = "") -> bool:
    """Configure `address` on interface `index`; False if it was there already.

    IPv6 addresses skip duplicate address detection: a service address must answer at
    once after a move, and the cluster (not DAD) guarantees it has one owner."""
    extra: dict[str, object] = {}
    if label:
        extra["label"] = label
    if address.version == 6:
        extra["flags"] = IFA_F_NODAD
    with _netlink() as ipr:
        try:
            ipr.addr("add", index=index, address=str(address.ip),
                     prefixlen=address.network.prefixlen, **extra)
        except NetlinkError as exc:
            if exc.code == EEXIST:
                return False
            raise AddressError(f"cannot add {address}: {exc.args[-1]}") from None
    return True


def remove(index: int, ip: str, prefixes: tuple[int, ...]) -> None:
    """Remove `ip` (with each of its prefix lengths) from interface `index`."""
    with _netlink() as ipr:
        for prefix in prefixes:
            try:
                ipr.addr("del", index=index, address=ip, prefixlen=prefix)
            except NetlinkError as exc:
                if exc.code != EADDRNOTAVAIL:
                    raise AddressError(f"cannot remove {ip}/{prefix}: {exc.args[-1]}") \
                        from None
