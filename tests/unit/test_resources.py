"""Agent declarations, parameter checking, code mappings and announcement packets."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from tandem.cli.agent_cmd import parse_params
from tandem.cli.common import UsageError
from tandem.resources.announce import garp_frame, na_message
from tandem.resources.base import OcfCode, ParamError, check_params
from tandem.resources.registry import agent_names, get_agent
from tandem.resources.script import lsb_status_code

GOOD = {
    "dummy": {},
    "ip": {"address": "198.51.100.50/24", "interface": "eth0"},
    "fs": {"device": "/dev/tandem/shared", "mountpoint": "/srv/data"},
    "script": {"path": "/etc/init.d/httpd"},
    "ocf": {"type": "Dummy"},
    "process": {"command": ["sleep", "10"]},
}


def test_every_agent_is_registered_and_described() -> None:
    assert set(GOOD) <= set(agent_names())
    for name in agent_names():
        agent = get_agent(name)
        assert agent.summary and agent.params is not None
        for spec in agent.params:
            assert spec.description, f"{name}.{spec.name} has no description"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_parameters_bind(name: str) -> None:
    agent = get_agent(name).create("r1", GOOD[name])
    assert agent.resource == "r1"


BAD = [
    ("ip", {"address": "198.51.100.50", "interface": "eth0"}, "prefix length"),
    ("ip", {"address": "not-an-ip/24", "interface": "eth0"}, "address"),
    ("ip", {"address": "198.51.100.50/24"}, "interface: is required"),
    ("ip", {"address": "198.51.100.50/24", "interface": "eth0", "extra": 1}, "unknown"),
    ("fs", {"device": "/dev/x", "mountpoint": "relative"}, "absolute"),
    ("fs", {"device": "/dev/x", "mountpoint": "/m", "fsck": "yes"}, "expected boolean"),
    ("process", {"command": []}, "non-empty"),
    ("process", {"command": "sleep 3"}, "expected list"),
    ("ocf", {"type": "../../bin/sh"}, "not a valid name"),
    ("script", {"path": "init.d/x"}, "absolute"),
    ("dummy", {"delay_ms": True}, "expected integer"),
]


@pytest.mark.parametrize(("name", "params", "message"), BAD)
def test_bad_parameters_are_refused(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        get_agent(name).create("r1", params)


def test_unknown_agent_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"known: .*dummy"):
        get_agent("nope")


def test_check_params_applies_defaults() -> None:
    values = check_params("r", get_agent("fs").params, GOOD["fs"])
    assert values["fstype"] == "auto" and values["force_unmount"] is True


def test_command_line_values_follow_declared_types() -> None:
    agent = get_agent("fs")
    parsed = parse_params(agent, ["device=/dev/x", "mountpoint=/m", "fsck=yes",
                                  "kill_rounds=2", "term_wait_s=0.5"])
    assert parsed == {"device": "/dev/x", "mountpoint": "/m", "fsck": True,
                      "kill_rounds": 2, "term_wait_s": 0.5}
    assert parse_params(get_agent("process"), ["command=a,b"]) == {"command": ["a", "b"]}
    with pytest.raises(UsageError, match="expected integer"):
        parse_params(agent, ["kill_rounds=many"])
    with pytest.raises(UsageError, match="no parameter"):
        parse_params(agent, ["colour=red"])


@pytest.mark.parametrize(("lsb", "ocf"), [(0, OcfCode.SUCCESS), (3, OcfCode.NOT_RUNNING),
                                          (1, OcfCode.ERR_GENERIC), (4, OcfCode.ERR_GENERIC),
                                          (150, OcfCode.ERR_GENERIC)])
def test_lsb_status_mapping(lsb: int, ocf: OcfCode) -> None:
    assert lsb_status_code(lsb) == ocf


def test_gratuitous_arp_frame() -> None:
    mac = bytes.fromhex("020000000001")
    frame = garp_frame(mac, ipaddress.IPv4Address("198.51.100.50"))
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    _htype, ptype, _hlen, _plen, op, sha, spa, _tha, tpa = struct.unpack(
        "!HHBBH6s4s6s4s", frame[14:42])
    assert (ptype, op, sha) == (0x0800, 1, mac)
    assert spa == tpa == bytes([198, 51, 100, 50])


def test_neighbour_advertisement() -> None:
    mac = bytes.fromhex("020000000002")
    target = ipaddress.IPv6Address("fe80::2")
    msg = na_message(mac, target)
    kind, code, _csum, flags = struct.unpack("!BBHI", msg[:8])
    assert (kind, code) == (136, 0) and flags & 0x20000000  # override set
    assert msg[8:24] == target.packed and msg[24:26] == b"\x02\x01" and msg[26:] == mac
