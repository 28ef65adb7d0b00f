"""`ip`: a virtual IPv4 or IPv6 address that follows the service.

Added and removed over netlink (pyroute2); on start the move is announced at once
(gratuitous ARP / unsolicited neighbour advertisement) and repeated a few times, so that
clients switch to the new owner without waiting for their caches to expire.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tandem.resources.announce import announce
from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    not_running,
    success,
)
from tandem.resources.registry import register

EEXIST, ENODEV, EADDRNOTAVAIL = 17, 19, 99
IFNAME_RE = r"[A-Za-z0-9_.:-]{1,15}"
_REPEATS: set[asyncio.Task[None]] = set()


@register
class IpAgent(ResourceAgent):
    """A service address on a named interface."""

    name = "ip"
    summary = "a virtual IPv4/IPv6 address with gratuitous ARP / neighbour advertisement"
    params = (
        ParamSpec("address", "string", required=True,
                  description="address with prefix length, e.g. 198.51.100.50/24"),
        ParamSpec("interface", "string", required=True, description="interface to put it on"),
        ParamSpec("announce_count", "integer", default=3,
                  description="announcements sent on start (the first at once)"),
        ParamSpec("announce_interval_ms", "integer", default=200,
                  description="pause between announcements"),
    )
    timeouts = Timeouts(start=10, stop=10, status=5, monitor=5)

    def validate(self) -> None:
        text = self.values["address"]
        if "/" not in text:
            raise ParamError(self.resource, "address", f"needs a prefix length: {text!r}")
        try:
            ipaddress.ip_interface(text)
        except ValueError:
            raise ParamError(self.resource, "address", f"not an address/prefix: {text!r}") \
                from None
        if not re.fullmatch(IFNAME_RE, self.values["interface"]):
            raise ParamError(self.resource, "interface",
                             f"not an interface name: {self.values['interface']!r}")
        if self.values["announce_count"] < 0 or self.values["announce_interval_ms"] < 0:
            raise ParamError(self.resource, "announce_count", "must be >= 0")

    @property
    def address(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(self.values["address"])

    def _index(self, ipr: IPRoute) -> int | None:
        found = ipr.link_lookup(ifname=self.values["interface"])
        return found[0] if found else None

    def _present(self) -> bool | None:
        """Is the address on the interface? None if the interface does not exist."""
        with IPRoute() as ipr:
            index = self._index(ipr)
            if index is None:
                return None
            wanted = str(self.address.ip)
            return any(msg.get_attr("IFA_ADDRESS") == wanted
                       for msg in ipr.get_addr(index=index))

    def _change(self, command: str) -> str:
        with IPRoute() as ipr:
            index = self._index(ipr)
            if index is None:
                return f"no interface {self.values['interface']}"
            try:
                ipr.addr(command, index=index, address=str(self.address.ip),
                         prefixlen=self.address.network.prefixlen)
            except NetlinkError as exc:
                if (command, exc.code) not in (("add", EEXIST), ("del", EADDRNOTAVAIL)):
                    return f"{command} {self.address}: {exc}"
        return ""

    async def start(self) -> AgentResult:
        error = await asyncio.to_thread(self._change, "add")
        if error:
            return failure(error, OcfCode.ERR_CONFIGURED if "no interface" in error
                           else OcfCode.ERR_GENERIC)
        first = await asyncio.to_thread(self._announce)
        if self.values["announce_count"] > 1:
            task = asyncio.get_running_loop().create_task(self._repeat())
            _REPEATS.add(task)  # keep a reference until it is done
            task.add_done_callback(_REPEATS.discard)
        return success(f"{self.address} on {self.values['interface']}" +
                       (f" (announce failed: {first})" if first else ""))

    def _announce(self) -> str:
        try:
            announce(self.values["interface"], self.address.ip)
        except OSError as exc:
            return str(exc)
        return ""

    async def _repeat(self) -> None:
        for _ in range(self.values["announce_count"] - 1):
            await asyncio.sleep(self.values["announce_interval_ms"] / 1000)
            if not await asyncio.to_thread(self._present):
                return
            await asyncio.to_thread(self._announce)

    async def stop(self) -> AgentResult:
        error = await asyncio.to_thread(self._change, "del")
        if error and "no interface" not in error:
            return failure(error)
        return success()

    async def status(self) -> AgentResult:
        present = await asyncio.to_thread(self._present)
        if present is None:
            return not_running(f"no interface {self.values['interface']}")
        return success() if present else not_running()
