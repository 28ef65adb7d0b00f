"""Labs made by the campaign, the scale benchmark and the stress run.

Their names carry the pid of the run that made them (`chaos-c2-1234`), so that a run
removes only what a *dead* run left behind and never the lab of a run going on beside
it (the CI's short campaign and a long campaign can share a machine). The failover
benchmarks' labs (`bench-*`) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib.labs import built_lab, remove_lab
from tandem.config import ClusterConfig
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames, existing_labs
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord

PREFIX = "chaos-"
NAME_RE = re.compile(rf"{PREFIX}[a-z0-9]+-(\d+)")
Say = Callable[[str], None]


class ChaosError(Exception):
    """A run could not go on (the lab broke, a step timed out); one line for the operator."""


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


def lab_name(tag: str) -> str:
    """`chaos-TAG-PID`: TAG is letters and digits (at most 24 characters in all)."""
    name = f"{PREFIX}{tag}-{os.getpid()}"
    if not NAME_RE.fullmatch(name) or len(name) > 24:
        raise ValueError(f"bad lab tag {tag!r}")
    return name


def _owner_alive(name: str) -> bool:
    found = NAME_RE.fullmatch(name)
    return found is not None and Path(f"/proc/{found.group(1)}").exists()


def cleanup_leftovers(say: Say) -> list[str]:
    """Remove the labs of runs that died without removing them; returns their names."""
    dead = [lab for lab in existing_labs()
            if lab.startswith(PREFIX) and not _owner_alive(lab)]
    for name in dead:
        remove_lab(name, say)
    return dead


@contextlib.contextmanager
def chaos_lab(tag: str, cell_text: str, say: Say, *, start: bool = True) -> Iterator[Lab]:
    """Build a lab (whose daemons start at boot with `start`); remove it however the
    block ends."""
    with built_lab(lab_name(tag), cell_text, start=start, say=say,
                   error=ChaosError) as record:
        control = NodeControl(record)
        yield Lab(record, control, NetworkFaults(record, control.config), control.config)
