"""The one place where an error ends a command: every entry point (`tandem`, `clustat`,
`clusvcadm`, `cs`, the /etc/HA tools, `tandem qdisk`) runs its body through `guarded`.

A TandemError becomes `PROG: error: MESSAGE` on stderr and its `exit_code`; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tandem.common.errors import EXIT_FAILED, TandemError

EXIT_INTERRUPTED = 130  # what a shell reports for a command stopped by SIGINT


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run `body` and return its exit status, or the status of the error that ended it."""
    try:
        return body()
    except TandemError as exc:
        return report_error(prog, exc)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`tandem events | head`)
        return EXIT_FAILED


def report_error(prog: str, exc: TandemError) -> int:
    """Print `exc` as the one line an operator reads; the exit status it calls for."""
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code
