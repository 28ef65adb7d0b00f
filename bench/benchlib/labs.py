"""Labs made by the benchmarks, the campaign, the scale benchmark and the stress run:
built from a cell text, always removed afterwards, and found again after a crash.

Every such lab is named `bench-TAG-PID`, PID being the run that made it. A run removes
the labs of runs that are gone (killed, crashed) and never the lab of a run going on
beside it (the CI's short campaign and a long benchmark can share a machine). Labs of
this naming's predecessors (`bench-NAME` without a pid, `chaos-...`) have no owner and
are removed too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib.errors import BenchError
from tandem.config import ClusterConfig, ConfigError
from tandem.lab import builder
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames, existing_labs
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError
from tandem.lab.state import LabRecord

PREFIX = "bench-"
OLD_PREFIXES = ("chaos-",)
NAME_RE = re.compile(rf"{PREFIX}[a-z0-9]+-(\d+)")
MAX_NAME = 24
Say = Callable[[str], None]


@dataclass
class Lab:
    """A running lab: its record, power and network fault handles, its configuration."""

    record: LabRecord
    control: NodeControl
    faults: NetworkFaults
    config: ClusterConfig

    @property
    def names(self) -> LabNames:
        return LabNames(self.record.name)

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.config.nodes]

    def node_root(self, node: str) -> Path:
        """Host path behind the node's private directories (its "local disk")."""
        return self.names.node_root(node)

    def other(self, node: str) -> str:
        """The node of a two-node cell that is not `node`."""
        return next(n for n in self.nodes if n != node)


def lab_name(tag: str, pid: int | None = None) -> str:
    """`bench-TAG-PID` for this run (TAG: lowercase letters and digits)."""
    name = f"{PREFIX}{tag}-{os.getpid() if pid is None else pid}"
    if not NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
        raise BenchError(f"bad lab tag {tag!r} (lowercase letters and digits, the whole "
                         f"name {name!r} at most {MAX_NAME} characters)")
    return name


def owner_alive(name: str) -> bool:
    """Whether the run that made lab `name` still runs (False: no owner in the name)."""
    found = NAME_RE.fullmatch(name)
    return found is not None and Path(f"/proc/{found.group(1)}").exists()


def remove_lab(name: str, say: Say) -> None:
    """Remove one lab if it exists (never raises: cleanup must go on)."""
    if name not in existing_labs():
        return
    try:
        builder.lab_down(name)
        say(f"lab {name} removed")
    except LabError as exc:
        say(f"removing lab {name} failed: {exc}")


def cleanup_leftovers(say: Say, *, mine: bool = False) -> list[str]:
    """Remove the benchmark labs of runs that are gone (and, with `mine`, this run's
    own, on the way out); returns their names."""
    own = f"-{os.getpid()}"
    found = [lab for lab in existing_labs() if lab.startswith((PREFIX, *OLD_PREFIXES))
             and (not owner_alive(lab) or (mine and lab.endswith(own)))]
    for name in found:
        remove_lab(name, say)
    return found


@contextlib.contextmanager
def built_lab(tag: str, cell: str, *, say: Say, start: bool = True) -> Iterator[Lab]:
    """Build lab `bench-TAG-PID` from the TOML text `cell` (its daemons start at boot
    with `start`); remove it, and the temporary cell file, however the block ends. A
    lab error becomes a BenchError."""
    name = lab_name(tag)
    remove_lab(name, say)
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    path = workdir / f"{name}.toml"
    path.write_text(cell)
    try:
        say(f"building lab {name}")
        try:
            record = builder.lab_up(str(path), name, start=start)
        except (LabError, ConfigError) as exc:
            raise BenchError(str(exc)) from None
        control = NodeControl(record)
        yield Lab(record, control, NetworkFaults(record, control.config), control.config)
    finally:
        remove_lab(name, say)
        shutil.rmtree(workdir, ignore_errors=True)
