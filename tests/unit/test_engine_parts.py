"""The engine's small parts, as tables: heartbeat claims on the wire, the pause guard,
and which configuration changes a running daemon refuses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cellsim import cell_text

from tandem.config import parse_config
from tandem.daemon.pause import PauseGuard
from tandem.daemon.reload import reload_refusal
from tandem.membership.claims import HeartbeatClaims

FULL = HeartbeatClaims(members=frozenset({1, 3}), quorate=True, withdrawn=True,
                       gave_up=False, fenced={2: (77, 12.5), 4: (None, 3.0)})

WIRE_CASES: list[tuple[str, dict[str, Any], HeartbeatClaims]] = [
    ("everything", FULL.to_wire(), FULL),
    ("nothing (an old or minimal peer)", {}, HeartbeatClaims()),
    ("members not a list", {"m": "1,3"}, HeartbeatClaims()),
    ("member ids that are not integers", {"m": [1, "2", True, 3.0, 4]},
     HeartbeatClaims(members=frozenset({1, 4}))),
    ("quorate must be true, not truthy", {"q": 1, "w": "yes", "g": [1]}, HeartbeatClaims()),
    ("fenced not an object", {"f": [[2, 1, 1.0]]}, HeartbeatClaims()),
    ("a bad fence record is dropped, the others kept",
     {"f": {"2": [5, 1.5], "x": [1, 1.0], "3": [1], "4": ["a", 1.0], "5": [1, "t"],
            "6": [None, 2]}},
     HeartbeatClaims(fenced={2: (5, 1.5), 6: (None, 2.0)})),
]


@pytest.mark.parametrize(("what", "wire", "claims"), WIRE_CASES,
                         ids=[c[0] for c in WIRE_CASES])
def test_claims_from_wire(what: str, wire: dict[str, Any], claims: HeartbeatClaims) -> None:
    assert HeartbeatClaims.from_wire(wire) == claims


def test_claims_round_trip_and_wire_keys() -> None:
    """The short keys are what older daemons read: they must not change."""
    assert FULL.to_wire() == {"m": [1, 3], "q": True, "w": True, "g": False,
                              "f": {"2": [77, 12.5], "4": [None, 3.0]}}
    assert HeartbeatClaims.from_wire(FULL.to_wire()) == FULL


def test_pause_guard_judges_as_of_before_a_pause_for_one_token() -> None:
    pauses: list[float] = []
    guard = PauseGuard(1.0, pauses.append)
    guard.expect(10.0)
    assert guard.judge_at(10.1) == 10.1  # on time (within half a token)
    guard.expect(10.5)
    assert guard.judge_at(13.5) == 10.5  # 3 s late: judged as of when it should have run
    assert pauses == [3.0]
    assert guard.judge_at(14.0) == 10.5  # still within one token of waking up
    assert guard.judge_at(14.6) == 14.6  # then as usual again
    assert guard.judge_at(20.0) == 20.0  # no expectation set: nothing to compare with


BASE = parse_config(cell_text(nodes=2), "a.toml")


REFUSED = [
    ("cluster name", 'name = "sim"', 'name = "other"', "cluster.name:"),
    ("key file", 'key_file = "/k"', 'key_file = "/k2"', "cluster.key_file:"),
    ("node id", "id = 2", "id = 7", "nodes[1].id:"),
    ("node address", "198.51.100.12/24", "198.51.100.13/24", "nodes[1].networks:"),
    ("ring number", "ring = 0", "ring = 3", "networks:"),
]


@pytest.mark.parametrize(("what", "old", "new", "key"), REFUSED, ids=[r[0] for r in REFUSED])
def test_reload_refuses_what_needs_a_restart(what: str, old: str, new: str,
                                             key: str) -> None:
    text = cell_text(nodes=2).replace(old, new, 1)
    refusal = reload_refusal(BASE, parse_config(text, "b.toml"))
    assert refusal.startswith(key) and "restart" in refusal


def test_reload_accepts_what_applies_live() -> None:
    text = cell_text(nodes=2).replace("token_ms = 500", "token_ms = 900")
    assert reload_refusal(BASE, parse_config(text, "b.toml")) == ""
    assert reload_refusal(BASE, replace(BASE, config_version=9, two_node=False)) == ""
    assert reload_refusal(BASE, replace(BASE, nodes=BASE.nodes[:1])).startswith("nodes")
