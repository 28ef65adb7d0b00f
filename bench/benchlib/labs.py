"""Labs made by the benchmarks: built from a cell text, always removed afterwards.

Every lab a benchmark makes is named `bench-...`, so `--cleanup` (and the next run) can
remove whatever a killed benchmark left behind, by name alone.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib.errors import BenchError
from tandem.config import ClusterConfig
from tandem.lab import builder
from tandem.lab.names import LabNames, existing_labs
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError
from tandem.lab.state import LabRecord

PREFIX = "bench-"
Say = Callable[[str], None]


@dataclass
class Lab:
    """A running lab: its record, its node control and its configuration."""

    record: LabRecord
    control: NodeControl
    config: ClusterConfig

    @property
    def names(self) -> LabNames:
        return LabNames(self.record.name)

    def node_root(self, node: str) -> Path:
        """Host path behind the node's private directories (its "local disk")."""
        return self.names.node_root(node)

    def node_names(self) -> list[str]:
        return [n.name for n in self.config.nodes]

    def other(self, node: str) -> str:
        """The node of the two-node cell that is not `node`."""
        return next(n for n in self.node_names() if n != node)


def remove_lab(name: str, say: Say) -> None:
    """Remove one lab if it exists (never raises: cleanup must go on)."""
    if name not in existing_labs():
        return
    try:
        builder.lab_down(name)
        say(f"lab {name} removed")
    except LabError as exc:
        say(f"removing lab {name} failed: {exc}")


def cleanup_leftovers(say: Say) -> list[str]:
    """Remove every lab a benchmark made (by its name prefix); returns their names."""
    found = [lab for lab in existing_labs() if lab.startswith(PREFIX)]
    for name in found:
        remove_lab(name, say)
    return found


@contextlib.contextmanager
def built_lab(name: str, cell: str, *, start: bool, say: Say,
              error: type[Exception] = BenchError) -> Iterator[LabRecord]:
    """Build lab `name` from the TOML text `cell` (a lab error becomes `error`); remove
    it, and the temporary cell file, however the block ends."""
    remove_lab(name, say)
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    path = workdir / f"{name}.toml"
    path.write_text(cell)
    try:
        say(f"building lab {name}")
        try:
            record = builder.lab_up(str(path), name, start=start)
        except LabError as exc:
            raise error(str(exc)) from None
        yield record
    finally:
        remove_lab(name, say)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def running_lab(name: str, cell: str, *, start: bool, say: Say) -> Iterator[Lab]:
    """Build lab `name` from the TOML text `cell`; remove it however the block ends."""
    if not name.startswith(PREFIX):
        raise BenchError(f"benchmark labs are named {PREFIX}...; got {name!r}")
    with built_lab(name, cell, start=start, say=say) as record:
        control = NodeControl(record)
        yield Lab(record, control, control.config)
