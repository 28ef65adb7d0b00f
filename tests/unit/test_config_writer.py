"""The TOML writer: whatever the loader reads, the writer writes back so that the loader
reads it equal (every example, the management pair's generated file, and a file that
sets every key to something else than its default); comments go where notes say."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.config import ClusterConfig, load_config, parse_config
from tandem.config.model import ResourceDef, ServiceDef
from tandem.config.writer import Notes, config_text
from tandem.hpc.mgmt import config_admin as ca
from tandem.hpc.mgmt.context import MgmtContext

EXAMPLES = Path(__file__).parents[2] / "examples"

EVERYTHING = """
[cluster]
name = "every"
key_file = "/etc/tandem/cluster.key"
config_version = 7
port = 5500
wait_for_all = true
expected_votes = 6

[timing]
heartbeat_ms = 150
token_ms = 1500
fence_check_s = 30

[networks.admin]
ring = 0

[networks."back-bone"]
ring = 1

[networks.clients]

[fence_devices.bmc]
type = "ipmi"
user = "fencer"
password_file = "/etc/tandem/fence.pw"
delay_ms = 500
timeout_s = 7.5

[fence_devices.pdu]
type = "ipmi"
address = "198.51.100.200"
port = 1623
password = "pdu-pass"

[fence_devices.switch]
type = "external"
agent = "fence_ifmib"
options = { ip = "198.51.100.201", port = 12, snmp_version = "2c", inet4_only = true }

[fence_devices.operator]
type = "manual"

[[nodes]]
name = "n1"
id = 1
votes = 2
networks.admin = { interface = "eth0", address = "198.51.100.11/24" }
networks.back-bone = { interface = "eth1.20", address = "203.0.113.11/24" }
networks.clients = { interface = "eth2", address = "203.0.113.131/25" }
bmc = { address = "198.51.100.101", port = 6230, user = "root", password = "p1" }
fence = [ { devices = ["bmc"], delay_ms = 3000 }, { devices = ["pdu", "switch"] },
          { devices = ["operator"], delay_ms = 0 } ]

[[nodes]]
name = "n2"
id = 16
networks.admin = { interface = "eth0", address = "198.51.100.12/24" }
networks.back-bone = { interface = "eth1.20", address = "203.0.113.12/24" }
bmc = { address = "198.51.100.102", password_file = "/etc/tandem/bmc2.pw" }
fence = [ { devices = ["bmc"] } ]

[[services]]
name = "db.main"
autostart = false
recovery = "relocate"
max_restarts = 0
restart_window_s = 90.5
domain.nodes = [ { name = "n2", priority = 5 }, { name = "n1", priority = 10 } ]
domain.restricted = true
domain.failback = true
domain.failback_delay_s = 30

[[services.resources]]
name = "db-data"
agent = "fs"
monitor_interval_s = 0
params.device = "/dev/tandem/shared"
params.mountpoint = "/srv/db"
params.fsck = true
params.kill_rounds = 5
params.kill_wait_s = 0.5
params.options = "noatime,\\"quoted\\""
timeouts = { start = 30, stop = 45.5, status = 5, monitor = 20 }

[[services.resources]]
name = "db-server"
agent = "process"
params.command = ["postgres", "-D", "/srv/db/data", "-c", "a=b c"]
params.env = { PGPORT = "5432", LC_ALL = "C.UTF-8", ODD = "é\\t\\u007f\\"#" }

[[services]]
name = "web"
domain = { nodes = ["n1", "n2"] }

[[services.resources]]
name = "web-ip"
agent = "ip"
params = { address = "198.51.100.50/24", interface = "eth0" }

[qdisk]
device = "/dev/disk/by-id/wwn-0x600a0b80001234"
label = "every-qdisk"
interval_ms = 200
tko = 4
votes = 2
master_wins = false
min_score = 2
stop_wait_ms = 4000

[[qdisk.heuristics]]
command = ["ping", "-c1", "-W1", "198.51.100.1"]
score = 2
interval_ms = 3000
timeout_ms = 2500
tko = 3

[[qdisk.heuristics]]
command = ["sh", "-c", "test -e /run/ok"]

[storage]
watch_kernel_log = false

[lab]
private_dirs = ["/etc/HA", "/srv"]
client = { network = "admin", address = "198.51.100.250/24" }
disks = [ { name = "shared", size = "1G", format = "xfs", storage = "san" },
          { name = "qd", size = 10485761, format = "none" } ]
"""

# A second cell for what the first cannot hold (a quorum disk forbids two-node mode).
TWO_NODE = """
[cluster]
name = "pair"
key_file = "/k"
two_node = true
wait_for_all = false

[networks.admin]
ring = 0

[[nodes]]
name = "a"
id = 1
networks.admin = { interface = "eth0", address = "198.51.100.11/24" }

[[nodes]]
name = "b"
id = 2
networks.admin = { interface = "eth0", address = "198.51.100.12/24" }
"""


def round_trip(config: ClusterConfig) -> ClusterConfig:
    """What the loader reads from what the writer writes for `config`."""
    return parse_config(config_text(config), config.source)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_round_trips(path: Path) -> None:
    config = load_config(path)
    assert round_trip(config) == config


def test_the_generated_management_config_round_trips() -> None:
    ctx = MgmtContext(root=EXAMPLES / "mgmt-ha" / "HA", node="node1")
    made = ca.generate(ca.load_inventory(EXAMPLES / "mgmt-ha" / "inventory.toml"),
                       ca.pick_nodes(ctx, ["node2"]), ca.read_ha_files(ctx), ca.Choices(),
                       output=None)
    assert round_trip(made.config) == made.config
    assert config_text(made.config) != made.text  # ... which had its comments as well


@pytest.mark.parametrize("text", [EVERYTHING, TWO_NODE], ids=["everything", "two-node"])
def test_every_section_and_kind_of_value_round_trips(text: str) -> None:
    config = parse_config(text, "every.toml")
    again = round_trip(config)
    assert again == config
    assert config_text(again) == config_text(config)  # deterministic


def _dataclasses(value: Any) -> Iterator[Any]:
    """Every dataclass instance inside `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for item in dataclasses.fields(value):
            yield from _dataclasses(getattr(value, item.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _dataclasses(item)


def _default(item: dataclasses.Field[Any]) -> Any:
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def test_the_round_trip_cells_set_every_key() -> None:
    """Each field with a default holds something else somewhere in the two cells, so a
    writer that dropped any key (the loader would read the default) fails the round
    trip above. `source` is where the file was read from, not a key."""
    fields: set[str] = set()
    changed: set[str] = set()
    for text in (EVERYTHING, TWO_NODE):
        for obj in _dataclasses(parse_config(text, "every.toml")):
            for item in dataclasses.fields(obj):
                if _default(item) is not dataclasses.MISSING:
                    where = f"{type(obj).__name__}.{item.name}"
                    fields.add(where)
                    if getattr(obj, item.name) != _default(item):
                        changed.add(where)
    assert sorted(fields - changed - {"ClusterConfig.source"}) == []
    assert {"QdiskDef.stop_wait_ms", "Heuristic.timeout_s", "DomainDef.failback_delay_s",
            "LabDisk.format", "FenceDeviceDef.options", "NodeDef.votes"} <= fields


def test_notes_become_comments_where_they_say() -> None:
    config = parse_config(EVERYTHING, "every.toml")
    notes = Notes(header=("Written by a test.", ""), at={
        "cluster": "who we are", "cluster.port": "not the default",
        "fence_devices.switch": "the SNMP switch", "nodes[1]": "the second node",
        "nodes[0].networks.back-bone": "a VLAN", "services[0].resources[1]": "the server",
        "services[1].domain": "either", "qdisk.heuristics[0]": "the gateway",
        "qdisk.label": "as written by tandem qdisk init", "lab.disks": "two disks"})
    text = config_text(config, notes)
    lines = text.splitlines()
    assert lines[:3] == ["# Written by a test.", "#", ""]
    assert lines[lines.index("[cluster]") + 1] == "# who we are"
    assert 'port = 5500 # not the default' in lines
    assert lines[lines.index("[fence_devices.switch]") + 1] == "# the SNMP switch"
    assert 'networks.back-bone = {interface = "eth1.20", address = "203.0.113.11/24"} # a VLAN' \
        in lines
    assert [lines[i + 1] for i, line in enumerate(lines) if line == "[[nodes]]"] == [
        'name = "n1"', "# the second node"]
    assert [lines[i + 1] for i, line in enumerate(lines)
            if line == "[[services.resources]]"][1] == "# the server"
    assert lines[lines.index("[[qdisk.heuristics]]") + 1] == "# the gateway"
    assert parse_config(text, "every.toml") == config  # comments change nothing


def test_a_note_for_a_path_not_written_is_refused() -> None:
    config = parse_config(TWO_NODE, "pair.toml")
    with pytest.raises(ValueError, match=r"notes for paths that were not written: "
                                         r"cluster.port, nodes$"):
        config_text(config, Notes(at={"cluster.port": "x", "nodes": "y", "nodes[0]": "z"}))


# Parameters of any shape (as an ocf or process resource takes them) read back as given.
_keys = st.text(max_size=8)
_scalars = st.one_of(st.text(max_size=20), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                     st.floats(allow_nan=False))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)), max_leaves=8)


@given(st.dictionaries(_keys, _values, max_size=4))
def test_parameters_read_back_as_written(params: dict[str, Any]) -> None:
    config = parse_config(TWO_NODE, "pair.toml")
    config = dataclasses.replace(config, services=(
        ServiceDef("s", (ResourceDef("r", "any", params=params),)),))
    written = tomllib.loads(config_text(config))["services"][0]["resources"][0]
    assert _same(written.get("params", {}), params)


def _same(read: Any, given: Any) -> bool:
    """Equal, and of the same types (True is not 1, 1.0 is not 1)."""
    if isinstance(given, float):
        return isinstance(read, float) and read == given
    if isinstance(given, dict):
        return isinstance(read, dict) and read.keys() == given.keys() and all(
            _same(read[k], v) for k, v in given.items())
    if isinstance(given, (list, tuple)):
        return isinstance(read, list) and len(read) == len(given) and all(
            _same(r, g) for r, g in zip(read, given, strict=True))
    return type(read) is type(given) and read == given
