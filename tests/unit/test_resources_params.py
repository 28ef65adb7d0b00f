"""Every agent's parameter declaration, checked through the registry: good values bind,
and wrong types, missing required values, unknown names, choices and semantic errors
are refused with a message naming the parameter."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.resources.base import ParamError, check_params
from tandem.resources.registry import agent_names, get_agent
from tandem.resources.runner import describe

GOOD: dict[str, dict[str, Any]] = {
    "dummy": {},
    "haservices": {},
    "ip": {"address": "198.51.100.50/24", "interface": "eth0"},
    "lustre_target": {"device": "/dev/mapper/ost0", "mountpoint": "/lustre/fs1/ost0",
                      "target": "fs1-OST0000"},
    "nfs_server": {"address": "198.51.100.70", "exports": [{"path": "/srv/home", "id": 1}],
                   "recovery_dir": "/srv/nfs-recovery"},
    "fs": {"device": "/dev/tandem/shared", "mountpoint": "/srv/data"},
    "script": {"path": "/etc/init.d/httpd"},
    "ocf": {"type": "Dummy"},
    "portblock": {"address": "198.51.100.11", "ports": [2049], "action": "block"},
    "process": {"command": ["sleep", "10"]},
    "slurmctld": {"mode": "slurm"},
}
REQUIRED = {"ip": ["address", "interface"], "fs": ["device", "mountpoint"],
            "script": ["path"], "ocf": ["type"], "process": ["command"],
            "portblock": ["address", "ports", "action"],
            "nfs_server": ["address", "exports", "recovery_dir"],
            "lustre_target": ["device", "mountpoint", "target"]}


def test_every_builtin_agent_is_registered_and_documented() -> None:
    assert set(GOOD) == set(agent_names())
    for name in agent_names():
        agent = get_agent(name)
        assert agent.name == name and agent.summary
        for spec in agent.params:
            assert spec.description, f"{name}.{spec.name} has no description"
            if not spec.required and spec.default is not None:
                check_params("r", (spec,), {spec.name: spec.default})  # default fits type


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_parameters_bind_with_defaults(name: str) -> None:
    agent = get_agent(name).create("r1", GOOD[name])
    assert agent.resource == "r1"
    assert set(agent.values) == {spec.name for spec in agent.params}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_unknown_parameter_is_refused_with_the_known_ones(name: str) -> None:
    with pytest.raises(ParamError, match=r"colour: unknown parameter \(this agent takes"):
        get_agent(name).create("r1", {**GOOD[name], "colour": "red"})


@pytest.mark.parametrize(("name", "param"),
                         [(n, p) for n, params in REQUIRED.items() for p in params])
def test_required_parameters(name: str, param: str) -> None:
    given = {k: v for k, v in GOOD[name].items() if k != param}
    with pytest.raises(ParamError, match=f"{param}: is required"):
        get_agent(name).create("r1", given)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_parameter_refuses_a_wrong_type(name: str) -> None:
    wrong = {"string": 3, "integer": "3", "float": "0.5", "boolean": "yes", "list": "a,b",
             "table": ["k=v"]}
    for spec in get_agent(name).params:
        with pytest.raises(ParamError, match=f"{spec.name}: expected {spec.type}"):
            get_agent(name).create("r1", {**GOOD[name], spec.name: wrong[spec.type]})


def test_booleans_are_not_integers() -> None:
    with pytest.raises(ParamError, match="delay_ms: expected integer"):
        get_agent("dummy").create("r1", {"delay_ms": True})


def test_choices() -> None:
    spec = next(p for p in get_agent("process").params if p.name == "stop_signal")
    assert "INT" in spec.choices
    get_agent("process").create("r1", {**GOOD["process"], "stop_signal": "INT"})
    with pytest.raises(ParamError, match="stop_signal: expected one of TERM, INT"):
        get_agent("process").create("r1", {**GOOD["process"], "stop_signal": "KILL"})


SEMANTIC = [
    ("ip", {"address": "198.51.100.50"}, "address: needs a prefix length"),
    ("ip", {"address": "not-an-ip/24"}, "address: not an address"),
    ("ip", {"address": "224.0.0.5/24"}, "not a unicast address"),
    ("ip", {"interface": "eth0:1"}, "interface: not an interface name"),
    ("ip", {"interface": "a-very-long-interface"}, "interface: not an interface name"),
    ("ip", {"label": "eth1:ha"}, "label: .*starting with eth0"),
    ("ip", {"address": "2001:db8::5/64", "label": "eth0:ha"}, "label: an IPv4"),
    ("ip", {"announce_count": -1}, "announce_count: must be between"),
    ("fs", {"mountpoint": "relative"}, "mountpoint: must be an absolute"),
    ("fs", {"mountpoint": "/"}, "mountpoint: must be an absolute directory other than /"),
    ("fs", {"options": "rw, noatime"}, "options: must not contain white space"),
    ("fs", {"kill_rounds": 99}, "kill_rounds: must be between"),
    ("script", {"path": "init.d/x"}, "path: must be an absolute path"),
    ("script", {"args": ["ok", 3]}, "args: expected a list of strings"),
    ("ocf", {"type": "../../bin/sh"}, "type: not a valid name"),
    ("ocf", {"provider": "a/b"}, "provider: not a valid name"),
    ("ocf", {"params": {"bad-name": "x"}}, "params.bad-name: not a valid parameter name"),
    ("ocf", {"params": {"ip": ["x"]}}, "params.ip: expected a string, number or boolean"),
    ("process", {"command": []}, "command: expected a non-empty list"),
    ("process", {"command": ["sleep", 3]}, "command: expected a non-empty list"),
    ("process", {"cwd": "tmp"}, "cwd: must be an absolute path"),
    ("process", {"env": {"A-B": "x"}}, "env.A-B: expected NAME"),
    ("process", {"env": {"N": 3}}, "env.N: expected NAME"),
    ("process", {"user": "root;rm"}, "user: not a user name"),
    ("dummy", {"state_dir": "run"}, "state_dir: must be an absolute path"),
    ("haservices", {"root": "etc/HA"}, "root: must be an absolute path"),
    ("haservices", {"command": "haservices"}, "command: must be an absolute path"),
    ("haservices", {"env": {"A-B": "x"}}, "env.A-B: not a variable name"),
    ("haservices", {"command_timeout_s": -1.0}, "command_timeout_s: must be >= 0"),
]


@pytest.mark.parametrize(("name", "change", "message"), SEMANTIC)
def test_semantic_checks(name: str, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=message) as caught:
        get_agent(name).create("web", {**GOOD[name], **change})
    assert str(caught.value).startswith("resource web: ")


def test_ipv6_and_labels_are_accepted() -> None:
    get_agent("ip").create("v6", {"address": "2001:db8::5/64", "interface": "eth0"})
    get_agent("ip").create("v4", {**GOOD["ip"], "label": "eth0:ha"})


def test_unknown_agent_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"known: dummy, fs, haservices, ip"):
        get_agent("nope")


def test_describe_comes_from_the_declaration() -> None:
    info = describe(get_agent("ip"))
    assert info["name"] == "ip" and info["monitor"] == "deeper than status"
    assert describe(get_agent("script"))["monitor"] == "same as status"
    params = {p["name"]: p for p in info["params"]}
    assert params["address"]["required"] is True and params["address"]["type"] == "string"
    assert params["announce_count"]["default"] == 3
    assert info["timeouts"]["start"] == get_agent("ip").timeouts.start
    assert "validate" in info["actions"]
