"""Where the daemon keeps its files, and the incarnation that survives restarts."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tandemd.paths")


@dataclass(frozen=True)
class Paths:
    """The daemon's directories (private per node in the lab)."""

    state_dir: Path = Path("/var/lib/tandem")
    run_dir: Path = Path("/run/tandem")

    @property
    def socket(self) -> Path:
        return self.run_dir / "tandemd.sock"

    @property
    def events(self) -> Path:
        return self.state_dir / "events.jsonl"

    @property
    def fence_history(self) -> Path:
        return self.state_dir / "fence-history.json"

    def ensure(self) -> None:
        """Create both directories (mode 0755)."""
        for path in (self.state_dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o755)


def next_incarnation(state_dir: Path) -> int:
    """A number larger than any this node used before, even across clock steps: peers
    tell a restarted node (which holds nothing it does not report) from one that only
    stalled by it."""
    path = state_dir / "incarnation"
    last = 0
    with contextlib.suppress(OSError, ValueError):
        last = int(path.read_text().strip())
    value = max(time.time_ns(), last + 1)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    except OSError as exc:
        log.warning("cannot record the incarnation in %s: %s", path, exc)
    return value
