"""What the three benchmark scripts share on the command line: options, root check,
setup, leftover cleanup, and turning errors and signals into exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from benchlib.errors import BenchError
from benchlib.install import ensure_packages
from benchlib.labs import cleanup_leftovers
from tandem.lab.proc import LabError


def say(message: str) -> None:
    """A progress line on stderr (figures go to stdout)."""
    print(f"... {message}", file=sys.stderr, flush=True)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="run only these stacks: a family (tandem, pacemaker, keepalived) "
                        "or a variant such as pacemaker-token500")
    p.add_argument("--cleanup", action="store_true",
                   help="remove whatever a previous benchmark left (labs named bench-*) "
                        "and exit")
    p.add_argument("--no-install", action="store_true",
                   help="do not install missing packages (fail instead)")
    return p


MAIN_PID = os.getpid()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM in the benchmark: unwind (so labs get removed). In a child that forked
    from us and has not exec'd yet (pyroute2 runs its netns helpers that way and stops
    them with SIGTERM), die as if no handler were set: never unwind our stack there."""
    if os.getpid() != MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, body: Callable[[argparse.Namespace], int]) -> int:
    """Setup, then `body`, with cleanup on any exit (errors, Ctrl-C, SIGTERM)."""
    if os.geteuid() != 0:
        print("bench: run as root (network namespaces, loop devices, packages)",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        leftovers = cleanup_leftovers(say)
        if args.cleanup:
            print(f"removed {len(leftovers)} benchmark lab(s)")
            return 0
        if not args.no_install:
            ensure_packages(say)
        return body(args)
    except (BenchError, LabError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; labs removed", file=sys.stderr)
        return 130
    finally:
        cleanup_leftovers(say)
