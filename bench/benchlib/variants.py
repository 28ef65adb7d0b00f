"""The stacks and settings the benchmarks compare, and how to bring one up in its lab."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from benchlib.cells import cell_text
from benchlib.errors import BenchError
from benchlib.labs import Lab, built_lab
from benchlib.profiles import DEFAULT, FAST, TURBO, Profile
from benchlib.stacks.base import Say, Stack
from benchlib.stacks.keepalived import KeepalivedStack
from benchlib.stacks.pacemaker import PacemakerStack, check_installed
from benchlib.stacks.tandem_stack import TandemStack

Maker = Callable[[Lab, str, Say], Stack]


@dataclass(frozen=True)
class Variant:
    """One stack at one setting."""

    key: str
    tag: str  # short, for its lab's name (bench-TAG-PID)
    family: str
    setting: str
    make: Maker
    profile: Profile | None = None  # tandem's timing; peers keep the cell's

    @property
    def peer(self) -> bool:
        return self.family != "tandem"

    @property
    def label(self) -> str:
        return f"{self.family} ({self.setting})"


def _tandem(lab: Lab, setting: str, say: Say) -> Stack:
    return TandemStack(lab, setting, say)


def _pacemaker(token_ms: int | None) -> Maker:
    def make(lab: Lab, setting: str, say: Say) -> Stack:
        check_installed()
        return PacemakerStack(lab, setting, say, token_ms)
    return make


def _keepalived(advert_s: float) -> Maker:
    def make(lab: Lab, setting: str, say: Say) -> Stack:
        return KeepalivedStack(lab, setting, say, advert_s)
    return make


VARIANTS = (
    Variant("tandem-default", "td", "tandem", f"default: {DEFAULT.describe()}", _tandem, DEFAULT),
    Variant("tandem-fast", "tf", "tandem", f"fast: {FAST.describe()}", _tandem, FAST),
    Variant("tandem-turbo", "tt", "tandem", f"turbo: {TURBO.describe()}", _tandem, TURBO),
    Variant("pacemaker-default", "pd", "pacemaker", "Debian default token (3000 ms)",
            _pacemaker(None)),
    Variant("pacemaker-token500", "p500", "pacemaker", "token 500 ms", _pacemaker(500)),
    Variant("pacemaker-token300", "p300", "pacemaker", "token 300 ms", _pacemaker(300)),
    Variant("keepalived-default", "kd", "keepalived", "advert_int 1 s (default)",
            _keepalived(1.0)),
    Variant("keepalived-fast", "kf", "keepalived", "advert_int 0.01 s (VRRPv3, fastest accepted)",
            _keepalived(0.01)),
)


def select(only: list[str] | None, *, allowed: tuple[str, ...] | None = None) -> list[Variant]:
    """Variants named by `--only` (a family such as `pacemaker`, or a key such as
    `pacemaker-token500`); all of them (of `allowed` keys) when `only` is empty."""
    pool = [v for v in VARIANTS if allowed is None or v.key in allowed]
    if not only:
        return pool
    chosen = [v for v in pool if v.key in only or v.family in only]
    unknown = [o for o in only if not any(o in (v.key, v.family) for v in pool)]
    if unknown:
        keys = ", ".join(v.key for v in pool)
        raise BenchError(f"unknown --only {', '.join(unknown)} (choose from: {keys} "
                         f"or a family name)")
    return chosen


@contextlib.contextmanager
def started(variant: Variant, say: Say) -> Iterator[Stack]:
    """Variant's lab, built, with the stack started and its service running."""
    cell = cell_text(variant.profile, peer_dirs=variant.peer)
    with built_lab(variant.tag, cell, start=not variant.peer, say=say) as lab:
        stack = variant.make(lab, variant.setting, say)
        say(f"{variant.label}: starting")
        owner = stack.start()
        say(f"{variant.label}: service running on {owner}")
        yield stack
