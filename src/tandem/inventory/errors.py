"""What can go wrong with the inventory database, each as one line for the operator."""

from __future__ import annotations

from tandem.common.errors import TandemError


class InventoryUnavailable(TandemError):
    """The database cannot be reached or opened (server down, file unreadable)."""


class InventoryOutdated(TandemError):
    """The database is missing its tables or is at another schema revision than this
    tandem: nothing is read or written until `tandem db init` brings it up to date."""


class InventoryInvalid(TandemError):
    """A change the inventory refuses (unknown node, a node in two cells, a cell the
    loader would refuse, a secret where a file name belongs); nothing was changed."""
