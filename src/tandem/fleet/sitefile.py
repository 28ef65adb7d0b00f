"""The small site file that sits beside the cell files of a directory source
(`site.toml`): how the management node reaches each node, each cell's kind, and, for
the lab, the management node itself.

```toml
[site]
admin_network = "admin"     # ssh goes to each node's address on this network
[kinds]
nfs1 = "nfs"                # a cell's kind (default: generic)
[addresses]
io1 = "198.51.100.11"       # how to reach a node (an address or a host name),
                            # instead of its address on the admin network
[management]                # the management node (used by `tandem lab up --site`)
name = "mgmt"
interface = "eth0"
address = "198.51.100.2/24"
```
Every section is optional; a missing file means all defaults.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tandem.config.errors import ConfigError
from tandem.config.reader import Section
from tandem.fleet.source import CELL_KINDS

SITE_FILE = "site.toml"
NAME_RE = r"[A-Za-z][A-Za-z0-9_-]{0,31}"
HOST_RE = r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,252}"  # an IPv4/IPv6 address or a DNS name


@dataclass(frozen=True)
class ManagementNode:
    """The node the fleet commands run on, as the lab builds it."""

    name: str
    interface: str
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True)
class Site:
    """What `site.toml` says."""

    admin_network: str = "admin"
    kinds: Mapping[str, str] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)  # node -> how to reach it
    management: ManagementNode | None = None


def load_site(directory: Path) -> Site:
    """The site file of `directory` (defaults when there is none); ConfigError naming
    the key otherwise."""
    path = directory / SITE_FILE
    if not path.exists():
        return Site()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None
    top = Section(data, str(path))
    top.only("site", "kinds", "addresses", "management")
    site = top.table("site")
    admin = "admin"
    if site is not None:
        site.only("admin_network")
        admin = site.string("admin_network", "admin", pattern=NAME_RE) or "admin"
    return Site(admin_network=admin, kinds=_kinds(top.table("kinds")),
                addresses=_addresses(top.table("addresses")),
                management=_management(top.table("management")))


def _kinds(sec: Section | None) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for cell in sec.data if sec else ():
        assert sec is not None
        kind = sec.req_string(cell)
        if kind not in CELL_KINDS:
            raise sec.fail(cell, f"expected one of {', '.join(CELL_KINDS)}, got {kind!r}")
        kinds[cell] = kind
    return kinds


def _addresses(sec: Section | None) -> dict[str, str]:
    return {node: sec.req_string(node, pattern=HOST_RE) for node in sec.data} if sec else {}


def _management(sec: Section | None) -> ManagementNode | None:
    if sec is None:
        return None
    sec.only("name", "interface", "address")
    return ManagementNode(name=sec.req_string("name", pattern=NAME_RE),
                          interface=sec.string("interface", "eth0") or "eth0",
                          address=sec.interface_address("address"))
