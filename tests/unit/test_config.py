"""Configuration loading: good files load, bad files fail with file, key and expectation."""

from __future__ import annotations

import copy
import ipaddress
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import cell_config
from tandem.config import ConfigError, load_config, parse_config
from tandem.config.reader import Section
from tandem.quorum.qdisk.config import QdiskDef

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_every_example_loads() -> None:
    files = sorted(EXAMPLES.glob("*.toml"))
    assert files
    for path in files:
        config = load_config(path)
        assert config.nodes and config.rings


def test_example_cell2_content() -> None:
    config = load_config(EXAMPLES / "cell2.toml")
    assert config.name == "cell2"
    assert [n.name for n in config.nodes] == ["node1", "node2"]
    assert config.two_node and config.wait_for_all  # defaults for two nodes
    assert [r.name for r in config.rings] == ["admin", "backbone"]
    node1 = config.node("node1")
    admin = node1.interface_on("admin")
    assert admin is not None and admin.address == ipaddress.ip_interface("198.51.100.11/24")
    assert node1.bmc is not None and node1.bmc.port == 623
    assert node1.fence[0].devices == ("bmc",) and node1.fence[0].delay_ms == 3000
    assert config.fence_device("operator").type == "manual"
    assert config.lab is not None and config.lab.disks[0].size_bytes == 256 << 20
    assert config.total_votes == 2


GOOD = cell_config("unit")

# (description, replace-this, with-this, expected fragments of the error)
BAD_CASES = [
    ("missing cluster name", 'name = "unit"\n', "", ["cluster.name", "required"]),
    ("bad name", 'name = "unit"', 'name = "9 lives"', ["cluster.name", "does not match"]),
    ("string id", "id = 2", 'id = "two"', ["nodes[1].id", "expected an integer", "'two'"]),
    ("duplicate id", "id = 2", "id = 1", ["node id 1 is used twice"]),
    ("duplicate name", 'name = "node2"', 'name = "node1"', ["node name 'node1' is used twice"]),
    ("address without prefix", "198.51.100.12/24", "198.51.100.12",
     ["nodes[1].networks.admin.address", "prefix length"]),
    ("address in another subnet", "198.51.100.12/24", "198.51.101.12/24",
     ["is not in 198.51.100.0/24"]),
    ("undeclared network", "networks.backbone = { interface = \"eth1\", "
                           "address = \"203.0.113.12/24\" }",
     "networks.storage = { interface = \"eth1\", address = \"203.0.113.12/24\" }",
     ["network 'storage' is not declared"]),
    ("unknown key", "[timing]\n", "[timing]\nheartbeat = 3\n",
     ["timing.heartbeat", "unknown key"]),
    ("token too short", "token_ms = 600", "token_ms = 150",
     ["timing.token_ms", "at least twice heartbeat_ms"]),
    ("bad disk size", 'size = "64M"', 'size = "lots"', ["lab.disks[0].size", "a size"]),
    ("bad disk format", 'format = "ext4"', 'format = "ntfs"', ["lab.disks[0].format"]),
    ("no ring", "ring = ", "# ring = ", ["heartbeat ring"]),
    ("bmc without password", ', password = "lab-pass-1"', "", ["bmc", "password"]),
    ("bad toml", "[timing]", "[timing", ["not valid TOML"]),
    ("relative private dir", '["/etc/HA"]', '["etc/HA"]', ["lab.private_dirs[0]"]),
    ("unknown ipmi option", "[lab]\n",
     "[fence_devices.bmc]\ntype = \"ipmi\"\noptions = { sesion = \"keep\" }\n[lab]\n",
     ["fence_devices.bmc.options.sesion", "not an ipmi option", "session"]),
    ("bad ipmi session mode", "[lab]\n",
     "[fence_devices.bmc]\ntype = \"ipmi\"\noptions = { session = \"always\" }\n[lab]\n",
     ["fence_devices.bmc.options.session", "keep or per-call", "'always'"]),
]


@pytest.mark.parametrize(("what", "old", "new", "fragments"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_bad_configs(what: str, old: str, new: str, fragments: list[str]) -> None:
    assert old in GOOD, f"test case {what!r} does not apply"
    text = GOOD.replace(old, new)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cell.toml")
    message = str(info.value)
    assert message.startswith("cell.toml: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message


def test_unknown_fence_device_and_missing_bmc() -> None:
    fence = 'fence = [ { devices = ["nope"] } ]'
    text = cell_config("f", node_extra={1: fence})
    with pytest.raises(ConfigError, match=r"unknown fence device 'nope'"):
        parse_config(text, "f.toml")
    text = cell_config("f", bmc=False, node_extra={1: 'fence = [ { devices = ["bmc"] } ]'},
                       extra='[fence_devices.bmc]\ntype = "ipmi"\n')
    with pytest.raises(ConfigError, match="no address"):
        parse_config(text, "f.toml")


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_two_node_needs_two_nodes() -> None:
    text = cell_config("three", nodes=3).replace('name = "three"\n',
                                                 'name = "three"\ntwo_node = true\n')
    with pytest.raises(ConfigError, match="two_node needs exactly 2 nodes"):
        parse_config(text)
    three = parse_config(cell_config("three", nodes=3))
    assert not three.two_node and three.total_votes == 3


@pytest.mark.parametrize(("text", "size"), [("512M", 512 << 20), ("1G", 1 << 30),
                                            ("64MiB", 64 << 20), ("2048", 2048),
                                            ("1.5G", int(1.5 * (1 << 30)))])
def test_sizes(text: str, size: int) -> None:
    assert Section({"size": text}, "f").size("size") == size


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.append((*prefix, i))
            found.extend(_paths(value, (*prefix, i)))
    return found


PARSED = tomllib.loads(GOOD)
ALL_PATHS = _paths(PARSED)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=20),
                   st.floats(allow_nan=False), st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _dump(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_dump(k)} = {_dump(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _to_toml(data: dict[str, Any]) -> str:
    """Inline-table TOML of `data` (enough for mutation tests)."""
    return "\n".join(f"{_dump(k)} = {_dump(v)}" for k, v in data.items()) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(ALL_PATHS), value=VALUES, delete=st.booleans())
def test_mutated_configs_never_crash(path: tuple[Any, ...], value: Any, delete: bool) -> None:
    """Any single change to a good file either loads or fails with a ConfigError."""
    data = copy.deepcopy(PARSED)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    elif value is not None:
        parent[path[-1]] = value
    text = _to_toml(data)
    try:
        parse_config(text, "mutated.toml")
    except ConfigError as exc:
        assert str(exc).startswith("mutated.toml")


def test_quorum_disk_section() -> None:
    disk = '[qdisk]\ndevice = "/dev/tandem/qd"\nlabel = "q"\ninterval_ms = 100\ntko = 5\n'
    config = parse_config(cell_config("q", extra=disk))
    qdisk = config.section(QdiskDef)
    assert qdisk is not None and qdisk.tko_s == 0.5
    assert not config.two_node and config.total_votes == 3  # two nodes + the disk
    forced = cell_config("q", extra=disk).replace('name = "q"\n', 'name = "q"\ntwo_node = true\n',
                                                  1)
    with pytest.raises(ConfigError, match="two_node = false"):
        parse_config(forced, "q.toml")
    with pytest.raises(ConfigError, match=r"qdisk.device"):
        parse_config(cell_config("q", extra='[qdisk]\ndevice = "relative"\n'), "q.toml")
    slow = disk.replace("tko = 5", "tko = 10")  # 1 s of disk silence, token 0.6 s
    with pytest.raises(ConfigError, match=r"q.toml: qdisk.tko: interval_ms x tko = 1000 ms "
                                          r"exceeds the token \(600 ms\)"):
        parse_config(cell_config("q", extra=slow), "q.toml")
    bare = parse_config(cell_config("q", extra='[qdisk]\ndevice = "/dev/tandem/qd"\n'))
    assert bare.section(QdiskDef) == QdiskDef("/dev/tandem/qd")
