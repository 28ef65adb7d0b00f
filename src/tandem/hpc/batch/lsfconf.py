"""LSF's lsf.conf and its `$LSF_ENVDIR/hosts` file: read both, and write the hosts file
that gives the active management node a virtual name.

lsf.conf is a file of `KEY=VALUE` lines (values may be quoted). What a failover depends
on: LSB_SHAREDIR (mbatchd's state: the job queue; it must move with the master),
LSF_MASTER_LIST (the hosts that may become master, first available first), and, read
for reference, LSF_ENVDIR, LSF_TOP and LSF_SERVER_HOSTS.

The hosts file has the /etc/hosts format: `ADDRESS NAME [ALIASES...]`, `#` comments.
LSF looks names up there before the system resolver (as `Resolver` does). The manual
lists the service address with the virtual name and both nodes' names as aliases, so
that LSF on either node calls itself by the virtual name. The file generated here
keeps the machines apart: the virtual name is the service address (it follows the
service), each node's own name is its own address. `tandem batch check --lsf` accepts
both forms.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.batch import BatchConfError, Setting, read_assignments, read_conf_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LsfConf:
    """The settings of one lsf.conf, by key as written."""

    path: str
    settings: dict[str, Setting]

    def get(self, key: str) -> Setting | None:
        return self.settings.get(key)

    def words(self, key: str) -> tuple[str, ...]:
        """A list setting (LSF_MASTER_LIST, LSF_SERVER_HOSTS) split at white space."""
        found = self.settings.get(key)
        return tuple(found.value.split()) if found is not None else ()

    @property
    def master_list(self) -> tuple[str, ...]:
        return self.words("LSF_MASTER_LIST")

    @property
    def server_hosts(self) -> tuple[str, ...]:
        return self.words("LSF_SERVER_HOSTS")

    @property
    def sharedir(self) -> Setting | None:
        return self.get("LSB_SHAREDIR")

    @property
    def envdir(self) -> Setting | None:
        return self.get("LSF_ENVDIR")

    @property
    def top(self) -> Setting | None:
        return self.get("LSF_TOP")


@dataclass(frozen=True)
class HostLine:
    """One line of a hosts file: an address and its names (the official one first)."""

    address: IPAddress
    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class HostsFile:
    """A file in the /etc/hosts format (LSF's hosts file, or one given to a check)."""

    path: str
    lines: tuple[HostLine, ...]

    def naming(self, name: str) -> list[HostLine]:
        """The lines that name `name` (host names are not case-sensitive), in order."""
        wanted = name.lower()
        return [h for h in self.lines if wanted in (n.lower() for n in h.names)]

    def lookup(self, name: str) -> HostLine | None:
        """The first line that names `name`: the one a resolver reading the file
        answers with."""
        return next(iter(self.naming(name)), None)

    def names_of(self, address: IPAddress) -> HostLine | None:
        """The first line of `address`."""
        return next((h for h in self.lines if h.address == address), None)


class Resolver:
    """Names to addresses as LSF looks them up: the hosts files in order, then the
    system resolver (unless `system` is False: a check given its own hosts file reads
    only that, so that it does not depend on the machine it runs on)."""

    def __init__(self, files: Sequence[HostsFile], *, system: bool = True) -> None:
        self.files = tuple(files)
        self.system = system

    def resolve(self, name: str) -> tuple[IPAddress, ...]:
        """Every address of `name` (an address stands for itself); () if none."""
        literal = as_address(name)
        if literal is not None:
            return (literal,)
        for hosts in self.files:
            found = hosts.lookup(name)
            if found is not None:
                return (found.address,)
        if not self.system:
            return ()
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return ()
        return tuple(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%", 1)[0])
                                   for i in infos))


def as_address(text: str) -> IPAddress | None:
    """`text` as an IP address, if it is one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def read_lsf_conf(path: str | Path) -> LsfConf:
    """Read and parse the lsf.conf at `path`; BatchConfError naming the problem."""
    return LsfConf(str(path), read_assignments(read_conf_text(path), str(path)))


def parse_lsf_conf(text: str, file: str = "lsf.conf") -> LsfConf:
    return LsfConf(file, read_assignments(text, file))


def read_hosts(path: str | Path) -> HostsFile:
    """Read and parse a hosts file; BatchConfError naming the problem."""
    return parse_hosts(read_conf_text(path), str(path))


def parse_hosts(text: str, file: str = "hosts") -> HostsFile:
    """Parse hosts-file text; a line without a name or whose first word is not an IP
    address is a BatchConfError naming the line."""
    lines: list[HostLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        try:
            address = ipaddress.ip_address(words[0])
        except ValueError:
            raise BatchConfError(f"{file}:{number}: {words[0]!r} is not an IP address "
                                 f"(expected ADDRESS NAME [ALIASES...])") from None
        if len(words) < 2:
            raise BatchConfError(f"{file}:{number}: {words[0]} has no host name")
        lines.append(HostLine(address, tuple(words[1:]), number))
    return HostsFile(file, tuple(lines))


def lsf_hosts_text(virtual: str, service_address: IPAddress,
                   nodes: Sequence[tuple[str, IPAddress]], source: str) -> str:
    """The hosts file: `virtual` at the service address, each node at its own address.
    BatchConfError if a name or address is used twice or a name is not one word."""
    names = [virtual, *(name for name, _ in nodes)]
    addresses = [service_address, *(address for _, address in nodes)]
    for name in names:
        if not name or any(c.isspace() or c == "#" for c in name):
            raise BatchConfError(f"{name!r} cannot be a name in a hosts file")
    for what, items in (("name", [n.lower() for n in names]),
                        ("address", [str(a) for a in addresses])):
        twice = sorted({i for i in items if items.count(i) > 1})
        if twice:
            raise BatchConfError(f"the same {what} for the virtual host and a node, or for "
                                 f"two nodes: {', '.join(twice)}")
    pair = " and ".join(name for name, _ in nodes)
    header = (
        f"# $LSF_ENVDIR/hosts for the management nodes {pair}, generated by",
        f"# `tandem batch generate lsf-hosts` from {source}.",
        f"# {virtual} is the virtual name of the active management node: its address is the",
        "# service address, which moves with the service to the node that runs it.",
        "# Each node's own name is that node's own address.",
    )
    body = [f"{service_address} {virtual}", *(f"{address} {name}" for name, address in nodes)]
    return "\n".join((*header, *body)) + "\n"
