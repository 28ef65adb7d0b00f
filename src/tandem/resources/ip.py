"""`ip`: a virtual IPv4 or IPv6 address that follows the service.

Added and removed over netlink; on start the move is announced at once (gratuitous ARP /
unsolicited neighbour advertisement), so that clients switch to the new owner without
waiting for their neighbour caches to expire. The first announcement goes out before
start returns; the repeats (for neighbours that missed it) follow in the background and
stop as soon as the address is gone again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re

from tandem.resources import addrs
from tandem.resources.addrs import AddressError
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

log = logging.getLogger("tandem.resources.ip")
# What the kernel accepts as an interface name: 1-15 bytes, no '/', ':' or white space.
IFNAME_RE = r"[^\s/:]{1,15}"
_REPEATS: set[asyncio.Task[None]] = set()  # strong references until each is done


def valid_ifname(name: str) -> bool:
    return bool(re.fullmatch(IFNAME_RE, name)) and name not in (".", "..")


@register
class IpAgent(ResourceAgent):
    """A service address on a named interface."""

    name = "ip"
    summary = "a virtual IPv4/IPv6 address, announced by gratuitous ARP / unsolicited NA"
    params = (
        ParamSpec("address", "string", required=True,
                  description="address with prefix length, e.g. 198.51.100.50/24"),
        ParamSpec("interface", "string", required=True, description="interface to put it on"),
        ParamSpec("label", "string", default="",
                  description="IPv4 only: address label, e.g. eth0:ha (starts with the "
                              "interface name)"),
        ParamSpec("announce_count", "integer", default=3,
                  description="announcements sent on start, the first at once (0: none)"),
        ParamSpec("announce_interval_ms", "integer", default=200,
                  description="pause between announcements"),
    )
    timeouts = Timeouts(start=10, stop=10, status=5, monitor=5)

    def validate(self) -> None:
        text = self.values["address"]
        if "/" not in text:
            raise ParamError(self.resource, "address", f"needs a prefix length: {text!r}")
        try:
            address = ipaddress.ip_interface(text)
        except ValueError:
            raise ParamError(self.resource, "address", f"not an address/prefix: {text!r}") \
                from None
        if address.ip.is_multicast or address.ip.is_unspecified:
            raise ParamError(self.resource, "address", f"not a unicast address: {text!r}")
        ifname, label = self.values["interface"], self.values["label"]
        if not valid_ifname(ifname):
            raise ParamError(self.resource, "interface", f"not an interface name: {ifname!r}")
        if label and (address.version != 4 or not label.startswith(ifname)
                      or len(label) > 15):
            raise ParamError(self.resource, "label", "an IPv4 address label of at most 15 "
                                                     f"characters starting with {ifname}")
        for key in ("announce_count", "announce_interval_ms"):
            if not 0 <= self.values[key] <= 100_000:
                raise ParamError(self.resource, key, "must be between 0 and 100000")

    @property
    def address(self) -> addrs.IpInterface:
        return ipaddress.ip_interface(self.values["address"])

    @property
    def _ifname(self) -> str:
        return str(self.values["interface"])

    async def _view(self) -> addrs.AddressView:
        return await asyncio.to_thread(addrs.view, self._ifname, str(self.address.ip))

    # -- actions -----------------------------------------------------------------------------
    async def start(self) -> AgentResult:
        seen = await self._view()
        if seen.link is None:
            return failure(f"no interface {self._ifname} on this node", OcfCode.ERR_INSTALLED)
        if seen.elsewhere:
            return failure(f"{self.address.ip} is already on {', '.join(seen.elsewhere)}")
        try:
            added = await asyncio.to_thread(addrs.add, seen.link.index, self.address,
                                            self.values["label"])
        except AddressError as exc:
            return failure(str(exc))
        where = f"{self.address} on {self._ifname}"
        if self.values["announce_count"] == 0:
            return success(where if added else f"{where} (already there)")
        problem = await self._announce()
        if self.values["announce_count"] > 1:
            task = asyncio.get_running_loop().create_task(self._repeat())
            _REPEATS.add(task)
            task.add_done_callback(_REPEATS.discard)
        return success(where + ("" if added else " (already there, announced again)")
                       + (f" (announcement failed: {problem})" if problem else ""))

    async def _announce(self) -> str:
        try:
            await asyncio.to_thread(announce, self._ifname, self.address.ip)
        except OSError as exc:
            log.warning("announcing %s on %s: %s", self.address, self._ifname, exc)
            return str(exc)
        return ""

    async def _repeat(self) -> None:
        for _ in range(self.values["announce_count"] - 1):
            await asyncio.sleep(self.values["announce_interval_ms"] / 1000)
            seen = await self._view()
            if not seen.prefixes:
                return  # stopped (or moved) meanwhile: never announce an address we lost
            await self._announce()

    async def stop(self) -> AgentResult:
        seen = await self._view()
        if seen.link is None or not seen.prefixes:
            return success("not configured")
        try:
            await asyncio.to_thread(addrs.remove, seen.link.index, str(self.address.ip),
                                    seen.prefixes)
        except AddressError as exc:
            return failure(str(exc))
        return success(f"removed {self.address.ip} from {self._ifname}")

    async def status(self) -> AgentResult:
        seen = await self._view()
        if seen.link is None:
            return not_running(f"no interface {self._ifname}")
        if not seen.prefixes:
            return not_running()
        wanted = self.address.network.prefixlen
        if wanted not in seen.prefixes:
            return failure(f"{self.address.ip} is on {self._ifname} with prefix "
                           f"/{seen.prefixes[0]}, not /{wanted}")
        return success()

    async def monitor(self) -> AgentResult:
        """Status, and the interface can carry traffic (up, with a carrier)."""
        result = await self.status()
        if not result.ok:
            return result
        seen = await self._view()
        if seen.link is not None and not seen.link.usable:
            return failure(f"interface {self._ifname} is {seen.link.operstate.lower()} "
                           f"({'up' if seen.link.up else 'down'} administratively)")
        return result
