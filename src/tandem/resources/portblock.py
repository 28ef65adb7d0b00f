"""`portblock`: silently drop a service's packets while its server is not ready.

Pacemaker's `portblock`, over nftables. A service brackets its address and server with
two of these, `action=block` before the address and `action=unblock` after the server:

    file systems -> portblock(block) -> ip -> server -> portblock(unblock)

Starting the block resource inserts a DROP rule for the address and ports; starting the
unblock resource removes that same rule; stopping runs in reverse (unblock's stop puts
the rule back, block's stop takes it away). Between the two, a client's SYN or datagram
is dropped rather than answered with a TCP reset or an ICMP port unreachable, so the
client retransmits instead of giving up (an NFS client that sees a reset may return an
error to its application).

As in Pacemaker, the block/unblock pair shares one rule: a rule is named by what it
matches (address, protocols, ports), written into the rule's comment, so a block and an
unblock resource with the same values act on the same rule, and resources with other
values never touch it. The rules live in a table of tandem's own (`inet
tandem_portblock`), created when first needed, in one `input` base chain at priority
filter - 10. No output chain is needed: a client on the server node itself reaches the
address through the loopback path, which crosses the input hook too.

Status needs a state file per resource (under /run/tandem/portblock, cleared at boot
like the rules themselves): the unblock resource is running only where it was started,
and the block resource stays running after the unblock resource removed its rule
(Pacemaker's "considered active").
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.common.errors import TandemError
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
from tandem.util.procrun import CommandError, CommandNotFound, CommandResult, one_line, run_command

STATE_DIR = "/run/tandem/portblock"
FAMILY, TABLE, CHAIN = "inet", "tandem_portblock", "input"
TABLE_REF = f"{FAMILY} {TABLE}"
COMMENT_PREFIX = "tandem-portblock"
COMMENT_MAX = 127  # nftables keeps at most 128 bytes of a comment, NUL included
COMMAND_CAP_S = 5.0
PROTOCOLS = ("tcp", "udp")
# The table and chain as a declaration: nft creates what is missing and leaves the rest.
TABLE_DECL = (f"table {TABLE_REF} {{\n"
              f"\tchain {CHAIN} {{\n"
              f"\t\ttype filter hook input priority filter - 10; policy accept;\n"
              f"\t}}\n"
              f"}}\n")

# Runs `nft ARGS...` with optional text on its standard input.
NftRunner = Callable[[Sequence[str], str | None], Awaitable[CommandResult]]


async def run_nft(args: Sequence[str], stdin: str | None) -> CommandResult:
    """The real runner: the `nft` program, bounded in time."""
    return await run_command(["nft", *args], timeout_s=COMMAND_CAP_S,
                             stdin=stdin.encode() if stdin is not None else None)


class NftError(TandemError):
    """An nft command failed; one line naming the command."""


class NftMissing(NftError):
    """The nft program is not there."""


@dataclass(frozen=True)
class Block:
    """What one DROP rule matches: packets to `address` on `ports` over `protocols`."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    protocols: tuple[str, ...]
    ports: tuple[int, ...]

    @property
    def comment(self) -> str:
        """The rule's name: its values, or their digest when they would not fit."""
        protocols, ports = ",".join(self.protocols), ",".join(map(str, self.ports))
        text = f"{COMMENT_PREFIX} {self.address} {protocols} {ports}"
        if len(text) <= COMMENT_MAX:
            return text
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return f"{COMMENT_PREFIX} {self.address} {protocols} sha256:{digest}"

    def rule(self) -> str:
        """The `add rule` line for nft -f."""
        family = "ip" if self.address.version == 4 else "ip6"
        return (f"add rule {TABLE_REF} {CHAIN} {family} daddr {self.address} "
                f"meta l4proto {{ {', '.join(self.protocols)} }} "
                f"th dport {{ {', '.join(map(str, self.ports))} }} "
                f'drop comment "{self.comment}"\n')


def rule_handles(listing: str, comment: str) -> list[int]:
    """Handles of the rules of our chain that carry `comment`, from `nft -j list table`
    output; ValueError if the output is not what nft writes."""
    data = json.loads(listing)
    handles = []
    for item in data["nftables"]:
        rule: dict[str, Any] | None = item.get("rule")
        if rule and rule.get("chain") == CHAIN and rule.get("comment") == comment:
            handles.append(int(rule["handle"]))
    return handles


@dataclass(frozen=True)
class Nft:
    """The rules of tandem's table, through an injectable `nft` runner."""

    run: NftRunner = run_nft

    async def _call(self, args: Sequence[str], stdin: str | None = None) -> CommandResult:
        shown = "nft " + " ".join(args)
        if stdin is not None:
            shown += f" <<< {stdin.strip()!r}"
        try:
            done = await self.run(args, stdin)
        except CommandNotFound as exc:
            raise NftMissing(f"{shown}: {exc} (install nftables)") from exc
        except CommandError as exc:
            raise NftError(f"{shown}: {exc}") from exc
        if not done.ok and not _missing_table(done):
            raise NftError(one_line(f"{shown}: {_problem(done)}", 400))
        return done

    async def handles(self, block: Block) -> list[int]:
        """Handles of the rules for `block` (none when the table does not exist yet)."""
        args = ["-j", "list", "table", FAMILY, TABLE]
        done = await self._call(args)
        if not done.ok:
            return []
        try:
            return rule_handles(done.stdout, block.comment)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise NftError(f"nft {' '.join(args)}: unreadable output "
                           f"{one_line(done.stdout, 80)!r}") from None

    async def put(self, block: Block) -> bool:
        """Make sure the rule is there (table and chain too); True if it was added."""
        if await self.handles(block):
            return False
        await self._call(["-f", "-"], TABLE_DECL + block.rule())
        return True

    async def take(self, block: Block) -> int:
        """Remove every rule for `block` (and nothing else); how many there were."""
        found = await self.handles(block)
        if found:
            script = "".join(f"delete rule {TABLE_REF} {CHAIN} handle {handle}\n"
                             for handle in found)
            await self._call(["-f", "-"], script)
        return len(found)


def _problem(done: CommandResult) -> str:
    """nft's own error line (it follows it with the input line and a caret line)."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    return errors[0] if errors else done.tail()


def _missing_table(done: CommandResult) -> bool:
    """nft's answer to listing a table that does not exist (not a failure for us)."""
    return "No such file or directory" in done.stderr


def _port_list(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(p, int) and not isinstance(p, bool)
                                and 1 <= p <= 65535 for p in values)


@register
class PortblockAgent(ResourceAgent):
    """Drops packets to a service's ports while its server is not ready (see module)."""

    name = "portblock"
    summary = "block or unblock a service's ports on its address (nftables, no reset)"
    params = (
        ParamSpec("address", "string", required=True,
                  description="the service's IPv4/IPv6 address, without prefix length"),
        ParamSpec("ports", "list", required=True,
                  description="destination ports to block, integers 1..65535"),
        ParamSpec("protocols", "list", default=["tcp", "udp"],
                  description="protocols to block: tcp, udp or both"),
        ParamSpec("action", "string", required=True, choices=("block", "unblock"),
                  description="block: drop while started (put before the address); "
                              "unblock: let through while started (put after the server)"),
    )
    timeouts = Timeouts(start=15, stop=15, status=10, monitor=10)

    nft: Nft = Nft()
    state_dir: Path = Path(STATE_DIR)

    def validate(self) -> None:
        text = self.values["address"]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ParamError(self.resource, "address",
                             f"not an IPv4/IPv6 address (no prefix length): {text!r}") from None
        if address.is_multicast or address.is_unspecified:
            raise ParamError(self.resource, "address", f"not a unicast address: {text!r}")
        if not _port_list(self.values["ports"]):
            raise ParamError(self.resource, "ports",
                             "expected a non-empty list of integers 1..65535 "
                             "(on a command line: ports=[2049,111])")
        protocols = self.values["protocols"]
        if not protocols or any(p not in PROTOCOLS for p in protocols):
            raise ParamError(self.resource, "protocols",
                             f"expected a non-empty list of {' and '.join(PROTOCOLS)}")

    @property
    def block(self) -> Block:
        return Block(ipaddress.ip_address(self.values["address"]),
                     tuple(sorted(set(self.values["protocols"]))),
                     tuple(sorted(set(self.values["ports"]))))

    @property
    def _state(self) -> Path:
        return self.state_dir / self.resource

    @property
    def _blocks(self) -> bool:
        return bool(self.values["action"] == "block")

    def _what(self) -> str:
        block = self.block
        return (f"{'/'.join(block.protocols)} port(s) {','.join(map(str, block.ports))} "
                f"on {block.address}")

    # -- actions -----------------------------------------------------------------------
    async def start(self) -> AgentResult:
        """block: put the rule in; unblock: take it out. The state file records it."""
        return await self._act(drop=self._blocks, started=True)

    async def stop(self) -> AgentResult:
        """The reverse of start."""
        return await self._act(drop=not self._blocks, started=False)

    async def _act(self, *, drop: bool, started: bool) -> AgentResult:
        try:
            if drop:
                changed = await self.nft.put(self.block)
            else:
                changed = bool(await self.nft.take(self.block))
        except NftMissing as exc:
            return failure(str(exc), OcfCode.ERR_INSTALLED)
        except NftError as exc:
            return failure(str(exc))
        try:
            self._record(started)
        except OSError as exc:
            return failure(f"state file {self._state}: {exc.strerror or exc}")
        verb = "dropping" if drop else "letting through"
        return success(f"{verb} {self._what()}" + ("" if changed else " (already so)"))

    def _record(self, started: bool) -> None:
        if started:
            self._state.parent.mkdir(parents=True, exist_ok=True)
            self._state.write_text(self.block.comment + "\n")
        else:
            self._state.unlink(missing_ok=True)

    async def status(self) -> AgentResult:
        """block: running while its rule is there, or after the unblock resource took it
        out; unblock: running where it was started, while no rule drops the packets."""
        try:
            blocked = bool(await self.nft.handles(self.block))
        except NftError as exc:
            return failure(str(exc))
        started = self._state.exists()
        if self._blocks:
            if blocked:
                return success(f"dropping {self._what()}")
            return success("started; the unblock resource opened the ports") if started \
                else not_running()
        if not started:
            return not_running()
        if blocked:
            return failure(f"started, but {self._what()} are dropped again")
        return success(f"letting through {self._what()}")
