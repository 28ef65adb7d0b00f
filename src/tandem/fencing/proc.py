"""Fence helper processes: `tandem.util.procrun` with fencing's own error types.

Fencing must never hang the daemon (DESIGN.md safety rule 6): every helper runs in a
process group of its own, killed on timeout or cancellation (see procrun).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tandem.fencing.base import FenceAgentError, FenceTimeout
from tandem.util import procrun
from tandem.util.procrun import CommandResult, one_line

__all__ = ["CommandResult", "one_line", "run_command"]


async def run_command(argv: Sequence[str], *, timeout_s: float, stdin: bytes | None = None,
                      env: Mapping[str, str] | None = None) -> CommandResult:
    """Run `argv`; FenceTimeout (group killed) after `timeout_s`, FenceAgentError if it
    cannot be started."""
    try:
        return await procrun.run_command(argv, timeout_s=timeout_s, stdin=stdin, env=env)
    except procrun.CommandTimeout as exc:
        raise FenceTimeout(str(exc).replace("did not finish", "gave no answer")) from None
    except procrun.CommandNotFound as exc:
        raise FenceAgentError(str(exc)) from exc
