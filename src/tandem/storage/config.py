"""The `[storage]` section: how a node learns that its path to the shared disks fails.

    [storage]
    watch_kernel_log = true   # default: read /dev/kmsg for I/O errors on the devices
                              # of the services running here

With the watch off, only `tandem storage-error DEVICE` (called by a site's own
watcher: a multipath checker, a SAN event daemon) reports errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.config.model import ClusterConfig
from tandem.config.reader import Section
from tandem.config.sections import SectionKind


@dataclass(frozen=True)
class StorageDef:
    """How storage errors are watched on every node of the cell."""

    watch_kernel_log: bool = True


def read_storage_section(sec: Section) -> StorageDef:
    sec.only("watch_kernel_log")
    return StorageDef(watch_kernel_log=sec.boolean("watch_kernel_log", True))


def storage_table(storage: StorageDef) -> dict[str, Any]:
    return {"watch_kernel_log": storage.watch_kernel_log}


def watch_kernel_log(config: ClusterConfig) -> bool:
    """Whether this cell's nodes read the kernel log for I/O errors (default: yes)."""
    storage = config.section(StorageDef)
    return storage is None or storage.watch_kernel_log


SECTION = SectionKind("storage", StorageDef, read=read_storage_section, write=storage_table)
