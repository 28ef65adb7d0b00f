"""`haip`: the virtual addresses that follow the active management node.

Each line of /etc/HA/ip holds an interface and an IPv4 address with its prefix length,
separated by tabs (the manual's format; a line may start with a tab, and spaces are
accepted too): `<TAB>bond0<TAB>10.1.0.65/16`. `start` adds each address and announces
it with gratuitous ARP, `stop` removes it, `status` fails at the first one missing. The
work is done by the engine's `ip` resource agent.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tandem.hpc.mgmt.agentcall import bind, call
from tandem.hpc.mgmt.datafile import Entry, LineError, parse_file
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import OK, Tool, counted
from tandem.resources.base import ResourceAgent

DATA_FILE = "ip"
_LINE_RE = re.compile(r"\s*(\S+)\s+(\d{1,3}(?:\.\d{1,3}){3}/\d{1,2})\s*")


@dataclass(frozen=True)
class VirtualIp:
    interface: str
    address: str  # A.B.C.D/N

    def __str__(self) -> str:
        return f"{self.address} on {self.interface}"


def ip_line(text: str) -> VirtualIp:
    """A data line: interface, then address/prefix."""
    match = _LINE_RE.fullmatch(text)
    if not match:
        raise LineError(f"expected <TAB>INTERFACE<TAB>A.B.C.D/PREFIX, got {text.strip()!r}")
    try:
        ipaddress.IPv4Interface(match[2])
    except ValueError as exc:
        raise LineError(f"not an IPv4 address/prefix: {exc}") from None
    return VirtualIp(match[1], match[2])


class Haip(Tool):
    name = "haip"
    summary = "add (with gratuitous ARP), remove or check the virtual addresses"
    actions = ("start", "stop", "status")

    def entries(self) -> list[Entry[VirtualIp]]:
        return parse_file(self.ctx.data(DATA_FILE), ip_line)

    def agents(self) -> list[tuple[Entry[VirtualIp], ResourceAgent]]:
        """One bound `ip` agent per line (every line checked before any is used)."""
        return [(entry, bind("ip", entry.where, {"address": entry.value.address,
                                                 "interface": entry.value.interface}))
                for entry in self.entries()]

    def _each(self, action: str, done: str) -> str:
        agents = self.agents()
        for entry, agent in agents:
            result = call(agent, action)
            if not result.ok:
                raise CheckFailed(f"{entry.where}: {action} {entry.value}: "
                                  f"{result.message or 'failed'}")
            self.ctx.say(f"{entry.where}: {result.message or done}")
        return f"{OK} ({counted(len(agents), 'address', 'addresses')})"

    def do_start(self) -> str:
        return self._each("start", "up, announced")

    def do_stop(self) -> str:
        return self._each("stop", "removed")

    def do_status(self) -> str:
        for entry, agent in self.agents():
            result = call(agent, "status")
            if result.stopped:
                raise CheckFailed(f"{entry.where}: {entry.value}: not configured"
                                  + (f" ({result.message})" if result.message else ""))
            if not result.ok:
                raise CheckFailed(f"{entry.where}: {entry.value}: {result.message}")
        return OK

    def is_active(self) -> bool | None:
        """True if every address is here, False if some is not, None if there are no
        addresses to tell by."""
        agents = self.agents()
        if not agents:
            return None
        return all(call(agent, "status").ok for _, agent in agents)
