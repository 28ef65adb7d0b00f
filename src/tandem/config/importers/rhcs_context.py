"""What every part of the cluster.conf import shares: the options, the notes, and the
values left for the operator to fill in."""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.config.importers.addresses import (
    AddressSpec,
    Resolver,
    ResolveSpec,
    system_resolver,
    usable_address,
)
from tandem.config.importers.notes import Notebook
from tandem.config.importers.xmldoc import Element

DEFAULT_KEY_FILE = "/etc/tandem/cluster.key"
# Where the written configuration expects the fence passwords that cluster.conf held
# inline; the operator creates these files (mode 0600) on every node.
DEFAULT_SECRETS_DIR = "/etc/tandem/fence"


def placeholder(key: str) -> str:
    """The value written where the operator must fill in `key`: something the loader
    refuses (not an address, not an interface name, not a path) with the key's name."""
    return f"<fill in {key}>"


@dataclass(frozen=True)
class ImportOptions:
    """The operator's choices: node addresses, whether host names may be resolved, and
    where the cluster key and fence passwords will be."""

    addresses: tuple[AddressSpec, ...] = ()
    resolve: ResolveSpec | None = None
    resolver: Resolver = system_resolver
    key_file: str = DEFAULT_KEY_FILE
    secrets_dir: str = DEFAULT_SECRETS_DIR


@dataclass
class Context:
    """One import's state, passed to each part."""

    source: str
    options: ImportOptions
    book: Notebook
    fill_ins: list[str] = field(default_factory=list)

    def resolve(self, element: Element, what: str, name: str) -> str | None:
        """`name` resolved, if the operator asked for resolution; a note either way
        when it was tried."""
        if self.options.resolve is None:
            return None
        address = usable_address(self.options.resolver(name))
        if address is None:
            self.book.note(element, f"{what}: {name} does not resolve to a usable address")
            return None
        self.book.note(element, f"{what}: {address} is what the resolver gives for {name}")
        return str(address)

    def fill_in(self, key: str) -> str:
        """Record that the written key `key` holds a placeholder; the placeholder."""
        self.fill_ins.append(key)
        return placeholder(key)

    def secret_file(self, stem: str) -> str:
        return f"{self.options.secrets_dir.rstrip('/')}/{stem}.password"
