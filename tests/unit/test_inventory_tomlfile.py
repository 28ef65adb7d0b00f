"""The management pair's TOML inventory: nodes in the shapes of a cell configuration,
and one-line errors naming the file (InventoryError, never the toolkit's own error)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tandem.config.model import BmcDef, NodeInterface
from tandem.inventory import InventoryError, load_inventory

EXAMPLE = Path(__file__).parents[2] / "examples" / "mgmt-ha" / "inventory.toml"


def test_the_example_inventory() -> None:
    inventory = load_inventory(EXAMPLE)
    assert inventory.heartbeat == ("admin", "backbone")
    assert list(inventory.nodes) == ["node1", "node2"]
    node2 = inventory.node("node2")
    assert node2.interfaces[1] == NodeInterface(
        "backbone", "eth1", ipaddress.ip_interface("203.0.113.12/24"))
    assert node2.bmc == BmcDef("198.51.100.102", password="lab-pass-2")


@pytest.mark.parametrize(("text", "problem"), [
    ("[[nodes]\n", "inv.toml: not valid TOML"),
    ('colour = "red"\n', "inv.toml: colour: unknown key (allowed here: heartbeat, nodes)"),
    ('[[nodes]]\nname = "9x"\n', "inv.toml: nodes[0].name: '9x' does not match"),
    ('[[nodes]]\nname = "a"\nbmc = { address = "198.51.100.1", port = 0, password = "p" }\n',
     "inv.toml: nodes[0].bmc.port: expected an integer >= 1, got 0"),
    ('[[nodes]]\nname = "a"\n[[nodes]]\nname = "a"\n', "inv.toml: node 'a' is listed twice"),
])
def test_bad_inventories(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/{problem}") and "\n" not in message


def test_missing_file_and_unknown_node(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory file is missing"):
        load_inventory(tmp_path / "none.toml")
    with pytest.raises(InventoryError, match=r"no node 'ns9' in the inventory \(it has: "
                                             r"node1, node2\)"):
        load_inventory(EXAMPLE).node("ns9")
