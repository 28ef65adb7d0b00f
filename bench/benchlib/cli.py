"""What every bench script shares on the command line: its parser (errors are one line),
the root check, removal of the labs dead runs left, installing what it needs, and
turning every error and signal into one line and an exit code. Labs are removed on
every way out.

Exit codes: 0 done, 1 a failure or a bench error, 2 bad usage or not root, 130
interrupted. Errors are one line on stderr, `bench: error: ...`; set BENCH_TRACEBACK=1
to see where an unexpected one came from.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from benchlib.errors import BenchError
from benchlib.labs import cleanup_leftovers
from tandem.config import ConfigError
from tandem.lab.proc import LabError

Say = Callable[[str], None]
Install = Callable[[Say], object]
MAIN_PID = os.getpid()
EXPECTED = (BenchError, LabError, ConfigError, OSError, subprocess.SubprocessError)


def say(message: str) -> None:
    """A progress line on stderr (figures go to stdout)."""
    print(f"... {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int) -> int:
    print(f"bench: error: {message}", file=sys.stderr, flush=True)
    return code


class BenchParser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line."""

    def error(self, message: str) -> NoReturn:
        sys.exit(fail(f"{self.prog}: {message} (see --help)", 2))


def parser(prog: str, description: str, *, install: bool = False,
           stacks: bool = False) -> BenchParser:
    """A script's parser with the options every script has, --no-install for those that
    install packages, and --only for those that compare stacks."""
    p = BenchParser(prog=prog, description=description)
    p.add_argument("--cleanup", action="store_true",
                   help="remove the labs that dead benchmark runs left (bench-*) and exit")
    if install:
        p.add_argument("--no-install", action="store_true",
                       help="do not install missing packages (fail instead)")
    if stacks:
        p.add_argument("--only", nargs="+", metavar="NAME",
                       help="run only these stacks: a family (tandem, pacemaker, "
                            "keepalived) or a variant such as pacemaker-token500")
    return p


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds the main process (so its labs are removed). In a child that forked
    from us and has not exec'd yet (pyroute2 runs its netns helpers that way and stops
    them with SIGTERM), die as if no handler were set: never unwind our stack there."""
    if os.getpid() != MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, body: Callable[[argparse.Namespace], int], *,
        install: Install | None = None) -> int:
    """Root check, leftovers, installation, then `body`; errors, Ctrl-C and SIGTERM
    become one line and an exit code."""
    if os.geteuid() != 0:
        return fail("run as root (network namespaces, loop devices, packages)", 2)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        removed = cleanup_leftovers(say)
        if args.cleanup:
            print(f"removed {len(removed)} benchmark lab(s)")
            return 0
        if install is not None and not getattr(args, "no_install", False):
            install(say)
        return body(args)
    except EXPECTED as exc:
        return fail(one_line(exc), 1)
    except KeyboardInterrupt:
        print("bench: interrupted; labs removed", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("BENCH_TRACEBACK"):
            traceback.print_exc()
        return fail(f"unexpected {type(exc).__name__}: {one_line(exc)} (BENCH_TRACEBACK=1 "
                    f"shows where)", 1)
    finally:
        cleanup_leftovers(say, mine=True)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def precompile() -> None:
    """Byte-compile tandem's sources as an installed package is. With
    PYTHONDONTWRITEBYTECODE set (it is on the benchmark VM) every daemon of a cell would
    otherwise compile them again at each start, all at once."""
    import compileall

    import tandem

    compileall.compile_dir(str(Path(tandem.__file__).parent), quiet=1)
