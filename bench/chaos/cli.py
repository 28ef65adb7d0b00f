"""What the three scripts share on the command line: progress lines, root check,
removal of labs that dead runs left, byte-compiling tandem, saving results, and turning
errors and signals into exit codes (labs are removed on every way out)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from chaos.labs import ChaosError, cleanup_leftovers
from tandem.lab.proc import LabError

RESULTS = Path(__file__).resolve().parents[1] / "results"
MAIN_PID = os.getpid()


def say(message: str) -> None:
    """A progress line on stderr (figures go to stdout)."""
    print(f"... {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds the main process (so its labs are removed); a forked child that
    has not exec'd yet (pyroute2 helpers) just dies."""
    if os.getpid() != MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def precompile() -> None:
    """Byte-compile tandem's sources as an installed package is. With
    PYTHONDONTWRITEBYTECODE set (it is on the benchmark VM) every daemon of a cell would
    otherwise compile them again at each start, all at once."""
    import compileall

    import tandem

    compileall.compile_dir(str(Path(tandem.__file__).parent), quiet=1)


def save(name: str, data: dict[str, Any], markdown: str) -> list[Path]:
    """Write bench/results/NAME.json and NAME.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    paths = [RESULTS / f"{name}.json", RESULTS / f"{name}.md"]
    paths[0].write_text(json.dumps(data, indent=2) + "\n")
    paths[1].write_text(markdown)
    return paths


def run(args: argparse.Namespace, body: Callable[[argparse.Namespace], int]) -> int:
    """Root check, leftovers, then `body`; errors, Ctrl-C and SIGTERM become exit codes."""
    if os.geteuid() != 0:
        print("bench: run as root (network namespaces, loop devices)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cleanup_leftovers(say)
        return body(args)
    except (ChaosError, LabError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; labs removed", file=sys.stderr)
        return 130
