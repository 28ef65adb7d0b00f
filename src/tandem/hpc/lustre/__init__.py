"""Lustre I/O cells: the `lustre_target` resource, the `lustre_<node>` services generated
from the inventory, and the management node's view of them."""
