"""The cluster inventory: what is known about the nodes, from which cell configurations
are generated. Today the small TOML file of the management pair (`tomlfile`)."""

from tandem.inventory.tomlfile import Inventory, InventoryError, InventoryNode, load_inventory

__all__ = ["Inventory", "InventoryError", "InventoryNode", "load_inventory"]
