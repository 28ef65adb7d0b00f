"""The `portblock` agent without root: parameters, the exact nft commands each action
issues, the parsing of recorded `nft -j` output, the block/unblock pair sharing one
rule, resources on one address leaving each other's rules alone, and failures named
by their command. A small fake nft keeps the rules the agent adds and deletes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tandem.resources.base import AgentResult, OcfCode, ParamError
from tandem.resources.portblock import (
    TABLE_DECL,
    Nft,
    PortblockAgent,
    rule_handles,
)
from tandem.util.procrun import CommandNotFound, CommandResult

RECORDED = Path(__file__).parent / "data" / "nft-portblock-list.json"  # real nft 1.0.6
LIST = ["-j", "list", "table", "inet", "tandem_portblock"]
NO_TABLE = CommandResult(1, "", "Error: No such file or directory\n"
                                "list table inet tandem_portblock\n", 0.0)
NFS = 'tandem-portblock 198.51.100.11 tcp,udp 111,2049'


@dataclass
class FakeNft:
    """Just enough of nft: the table, rules by handle, the calls made."""

    table: bool = False
    rules: dict[int, str] = field(default_factory=dict)  # handle -> comment
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)
    answers: dict[str, CommandResult] = field(default_factory=dict)  # by first word
    handle: int = 3

    async def __call__(self, args: Sequence[str], stdin: str | None) -> CommandResult:
        self.calls.append((list(args), stdin))
        if args[0] in self.answers:
            return self.answers[args[0]]
        if list(args) == LIST:
            return CommandResult(0, json.dumps(self.listing()), "", 0.0) if self.table \
                else NO_TABLE
        assert list(args) == ["-f", "-"] and stdin is not None
        for line in stdin.splitlines():
            self._apply(line)
        return CommandResult(0, "", "", 0.0)

    def _apply(self, line: str) -> None:
        if line.startswith("table inet tandem_portblock"):
            self.table = True
        elif line.startswith("add rule"):
            assert self.table, "a rule added before its table"
            self.handle += 1
            comment = re.search(r'comment "(.*)"$', line)
            assert comment is not None
            self.rules[self.handle] = comment[1]
        elif line.startswith("delete rule"):
            del self.rules[int(line.rsplit(" ", 1)[1])]  # real nft fails on a missing one

    def listing(self) -> dict[str, Any]:
        rules = [{"rule": {"family": "inet", "table": "tandem_portblock", "chain": "input",
                           "handle": handle, "comment": comment, "expr": [{"drop": None}]}}
                 for handle, comment in self.rules.items()]
        return {"nftables": [{"metainfo": {"version": "1.0.6"}},
                             {"table": {"family": "inet", "name": "tandem_portblock"}},
                             {"chain": {"family": "inet", "table": "tandem_portblock",
                                        "name": "input"}}, *rules]}

    def writes(self) -> list[str | None]:
        return [stdin for args, stdin in self.calls if args != LIST]


def bind(fake: FakeNft, state: Path, resource: str = "nfs-block", **given: Any) \
        -> PortblockAgent:
    params = {"address": "198.51.100.11", "ports": [2049, 111], "action": "block", **given}
    agent = PortblockAgent.create(resource, params)
    assert isinstance(agent, PortblockAgent)
    agent.nft = Nft(fake)
    agent.state_dir = state
    return agent


def run(agent: PortblockAgent, action: str) -> AgentResult:
    result: AgentResult = asyncio.run(getattr(agent, action)())
    return result


# -- parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"address": "198.51.100.11/24"}, "address: not an IPv4/IPv6 address"),
    ({"address": "nfs.example"}, "address: not an IPv4/IPv6 address"),
    ({"address": "224.0.0.5"}, "address: not a unicast address"),
    ({"ports": []}, "ports: expected a non-empty list"),
    ({"ports": [0]}, "ports: expected a non-empty list of integers 1..65535"),
    ({"ports": [65536]}, "ports: expected a non-empty list of integers"),
    ({"ports": ["2049"]}, "ports: expected a non-empty list of integers"),
    ({"ports": [True]}, "ports: expected a non-empty list of integers"),
    ({"protocols": ["sctp"]}, "protocols: expected a non-empty list of tcp and udp"),
    ({"protocols": []}, "protocols: expected a non-empty list"),
    ({"action": "open"}, "action: expected one of block, unblock"),
])
def test_bad_parameters_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        bind(FakeNft(), Path("/nonexistent"), **change)


def test_values_are_sorted_and_deduplicated_into_one_name(tmp_path: Path) -> None:
    agent = bind(FakeNft(), tmp_path, ports=[2049, 111, 2049], protocols=["udp", "tcp"])
    assert agent.block.comment == NFS
    v6 = bind(FakeNft(), tmp_path, address="2001:db8:100::11", protocols=["tcp"])
    assert "ip6 daddr 2001:db8:100::11 meta l4proto { tcp }" in v6.block.rule()


def test_a_name_too_long_for_a_comment_becomes_a_digest(tmp_path: Path) -> None:
    many = bind(FakeNft(), tmp_path, ports=list(range(1000, 1040))).block
    fewer = bind(FakeNft(), tmp_path, ports=list(range(1000, 1039))).block
    assert len(many.comment) <= 127 and "sha256:" in many.comment
    assert many.comment != fewer.comment
    assert "th dport { 1000, 1001," in many.rule()


# -- the commands ------------------------------------------------------------------------
RULE = ('add rule inet tandem_portblock input ip daddr 198.51.100.11 '
        'meta l4proto { tcp, udp } th dport { 111, 2049 } drop comment "' + NFS + '"\n')


def test_block_start_creates_table_and_rule_once(tmp_path: Path) -> None:
    fake = FakeNft()
    block = bind(fake, tmp_path)
    first = run(block, "start")
    assert first.ok and first.message == "dropping tcp/udp port(s) 111,2049 on 198.51.100.11"
    assert fake.calls == [(LIST, None), (["-f", "-"], TABLE_DECL + RULE)]
    again = run(block, "start")
    assert again.ok and again.message.endswith("(already so)")
    assert fake.calls[2:] == [(LIST, None)] and list(fake.rules.values()) == [NFS]
    assert (tmp_path / "nfs-block").read_text() == NFS + "\n"


def test_block_stop_deletes_by_handle(tmp_path: Path) -> None:
    fake = FakeNft()
    block = bind(fake, tmp_path)
    run(block, "start")
    assert run(block, "stop").ok
    assert fake.writes()[-1] == "delete rule inet tandem_portblock input handle 4\n"
    assert fake.rules == {} and not (tmp_path / "nfs-block").exists()
    assert run(block, "stop").message.endswith("(already so)")
    assert run(block, "status").code == OcfCode.NOT_RUNNING


def test_stop_removes_every_copy_of_its_rule(tmp_path: Path) -> None:
    fake = FakeNft(table=True, rules={7: NFS, 9: "someone else", 12: NFS})
    assert run(bind(fake, tmp_path), "stop").ok
    assert fake.writes() == ["delete rule inet tandem_portblock input handle 7\n"
                             "delete rule inet tandem_portblock input handle 12\n"]
    assert fake.rules == {9: "someone else"}


def test_the_pair_in_service_order(tmp_path: Path) -> None:
    """block start, unblock start (server ready), then the reverse: one shared rule."""
    fake = FakeNft()
    block = bind(fake, tmp_path)
    unblock = bind(fake, tmp_path, resource="nfs-unblock", action="unblock")
    assert run(unblock, "status").code == OcfCode.NOT_RUNNING  # no state file: not here
    assert run(block, "start").ok and run(block, "status").ok
    assert run(unblock, "status").code == OcfCode.NOT_RUNNING
    opened = run(unblock, "start")
    assert opened.ok and opened.message.startswith("letting through")
    assert fake.rules == {}
    assert run(unblock, "status").ok
    assert run(block, "status").message == "started; the unblock resource opened the ports"
    assert run(unblock, "stop").ok and list(fake.rules.values()) == [NFS]
    assert run(unblock, "status").code == OcfCode.NOT_RUNNING
    assert run(block, "status").ok
    assert run(block, "stop").ok and fake.rules == {}
    assert run(block, "status").code == OcfCode.NOT_RUNNING


def test_unblock_started_but_blocked_again_is_a_failure(tmp_path: Path) -> None:
    fake = FakeNft()
    unblock = bind(fake, tmp_path, resource="nfs-unblock", action="unblock")
    assert run(unblock, "start").ok
    assert fake.calls == [(LIST, None)]  # nothing to remove: no table yet
    assert run(unblock, "status").ok
    assert run(bind(fake, tmp_path), "start").ok  # someone puts the rule back
    broken = run(unblock, "status")
    assert broken.code == OcfCode.ERR_GENERIC and "are dropped again" in broken.message


def test_resources_on_one_address_keep_their_own_rules(tmp_path: Path) -> None:
    fake = FakeNft()
    nfs = bind(fake, tmp_path)
    http = bind(fake, tmp_path, resource="web-block", ports=[80])
    nfs_tcp = bind(fake, tmp_path, resource="tcp-block", protocols=["tcp"])
    for agent in (nfs, http, nfs_tcp):
        assert run(agent, "start").ok
    assert len(fake.rules) == 3
    assert run(http, "stop").ok
    assert set(fake.rules.values()) == {NFS, "tandem-portblock 198.51.100.11 tcp 111,2049"}
    assert run(nfs, "status").ok and run(nfs_tcp, "status").ok
    assert run(http, "status").code == OcfCode.NOT_RUNNING
    web_unblock = bind(fake, tmp_path, resource="web-unblock", action="unblock", ports=[80])
    assert run(web_unblock, "start").ok and len(fake.rules) == 2


# -- recorded output and failures --------------------------------------------------------
def test_recorded_nft_listing_is_read() -> None:
    listing = RECORDED.read_text()
    assert rule_handles(listing, NFS) == [4]
    assert rule_handles(listing, "tandem-portblock 198.51.100.11 tcp 2049") == [5]
    assert rule_handles(listing, "tandem-portblock 2001:db8:100::11 udp 2049") == [6]
    assert rule_handles(listing, "tandem-portblock 198.51.100.11 udp 2049") == []


def test_recorded_listing_through_the_agent(tmp_path: Path) -> None:
    fake = FakeNft(answers={"-j": CommandResult(0, RECORDED.read_text(), "", 0.0)})
    assert run(bind(fake, tmp_path), "status").ok
    assert run(bind(fake, tmp_path, ports=[80]), "status").code == OcfCode.NOT_RUNNING


@pytest.mark.parametrize("stdout", ["not json", '{"nftables": 3}', "[]"])
def test_unreadable_listing_is_a_failure(tmp_path: Path, stdout: str) -> None:
    fake = FakeNft(answers={"-j": CommandResult(0, stdout, "", 0.0)})
    result = run(bind(fake, tmp_path), "status")
    assert result.code == OcfCode.ERR_GENERIC
    assert result.message.startswith("nft -j list table inet tandem_portblock: unreadable")


def test_a_failed_nft_is_one_line_naming_the_command(tmp_path: Path) -> None:
    denied = CommandResult(1, "", "Error: Could not process rule: Operation not permitted\n"
                                  "add rule inet ...\n       ^^^\n", 0.0)
    fake = FakeNft(answers={"-f": denied})
    block = bind(fake, tmp_path)
    result = run(block, "start")
    assert result.code == OcfCode.ERR_GENERIC and "\n" not in result.message
    assert result.message.startswith("nft -f - <<< 'table inet tandem_portblock {")
    assert result.message.endswith(": Error: Could not process rule: Operation not permitted")
    assert not (tmp_path / "nfs-block").exists(), "a failed start recorded as started"


def test_missing_nft_is_not_installed(tmp_path: Path) -> None:
    async def absent(args: Sequence[str], stdin: str | None) -> CommandResult:
        raise CommandNotFound("cannot run nft: No such file or directory")

    block = bind(FakeNft(), tmp_path)
    block.nft = Nft(absent)
    result = run(block, "start")
    assert result.code == OcfCode.ERR_INSTALLED and "install nftables" in result.message
