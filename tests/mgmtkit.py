"""Helpers of the management toolkit's tests (the `ctx` and `lines` fixtures are in
conftest): writing the files a tree needs, a runner that records commands, and a fake
answer to where HA_NSM runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tandem.hpc.mgmt.cellguard import NsmPlace
from tandem.hpc.mgmt.context import DEFAULT_TIMEOUT_S, MgmtContext, Runner
from tandem.util.procrun import CommandResult


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write `text` at `path` (parents made as needed) with permissions `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


class FakeRunner(Runner):
    """Records the local commands a tool runs instead of running them; each ends with
    `returncode` (and `stderr`)."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.returncode, self.stderr = returncode, stderr

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> CommandResult:
        self.calls.append(list(argv))
        return CommandResult(self.returncode, "", self.stderr, 0.0)


def nsm_on(owner: str | None, *, here: bool = False,
           unknown: str = "") -> Callable[[MgmtContext], NsmPlace]:
    """A fake answer to "where does HA_NSM run?" (MgmtContext.nsm_place)."""
    return lambda _ctx: NsmPlace(owner=owner, here=here, unknown=unknown)
