"""Names from another cluster stack made fit for a tandem configuration.

tandem's names (cell, nodes, networks, fence devices: letters, digits, `-`, `_`, at most
32 characters, starting with a letter; services and resources may also hold `.`) are
stricter than what cluster.conf allows, so an importer adapts a name and says so.
"""

from __future__ import annotations

import ipaddress
import re

_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_NOT_DOTTED_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_MAX = 32
DOTTED_NAME_MAX = 48


def plain_name(text: str, prefix: str = "n") -> str:
    """`text` as a tandem name: other characters become `-`, and `prefix` goes in front
    when it does not start with a letter."""
    name = _NOT_NAME.sub("-", text.strip()).strip("-") or prefix
    if not name[0].isalpha() or not name[0].isascii():
        name = f"{prefix}{name}" if name[0] in "-_" else f"{prefix}-{name}"
    return name[:NAME_MAX]


def dotted_name(text: str, prefix: str = "r") -> str:
    """`text` as a service or resource name (dots allowed)."""
    name = _NOT_DOTTED_NAME.sub("-", text.strip()).strip("-") or prefix
    if not name[0].isalpha() or not name[0].isascii():
        name = f"{prefix}-{name}"
    return name[:DOTTED_NAME_MAX]


def host_name(text: str) -> str:
    """A node's name: its short host name (tandemd names itself so), made a tandem
    name. An IP address is kept whole (with `-` for its separators)."""
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return plain_name(text.strip().split(".", 1)[0])
    return plain_name(text)


def unique(name: str, taken: set[str], limit: int = NAME_MAX) -> str:
    """`name`, or `name-2`, `name-3`... if already taken; the result is added to
    `taken`."""
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        suffix = f"-{count}"
        candidate = f"{name[:limit - len(suffix)]}{suffix}"
    taken.add(candidate)
    return candidate
