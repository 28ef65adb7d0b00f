"""`tandem install`: lay out a server (or an image, under `root`) for tandem.

Idempotent: files tandem owns (the unit, the logrotate snippet, the /etc/HA/bin links)
are rewritten only when they differ; files the administrator owns (/etc/default/tandemd,
the /etc/HA data files) are written only when missing, and never touched again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tandem.common.errors import TandemError
from tandem.system.unit import DEFAULTS_TEXT, UNIT_NAME, logrotate_text, unit_text
from tandem.util.atomicfile import replace_file

UNIT_DIR = "etc/systemd/system"
HA_ROOT = "etc/HA"
PRIVATE_DIRS = ("etc/tandem", "var/lib/tandem")
PUBLIC_DIRS = ("var/log/tandem",)
HA_LISTS = {"start": "haservices start: one command per line, run in order",
            "stop": "haservices stop: one command per line, run in order",
            "status": "haservices status: one command per line (empty: not monitored)"}


class InstallError(TandemError):
    """A file or directory of the layout could not be made; names it."""


@dataclass
class Layout:
    """What `install` did, one line per item (for the operator)."""

    root: Path
    lines: list[str] = field(default_factory=list)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def say(self, what: str, relative: str) -> None:
        self.lines.append(f"{what:<9} /{relative}")


def install(root: Path, tandemd: str, tool_path: Callable[[str], str],
            tools: dict[str, str]) -> Layout:
    """Lay out `root`: directories, the unit (starting `tandemd`), logrotate, the
    /etc/HA/bin links (to `tool_path(name)` for each tool) and the /etc/HA data files
    (`tools`: tool name -> the data file it reads, "" if none)."""
    done = Layout(root)
    try:
        for relative in PRIVATE_DIRS:
            _directory(done, relative, 0o700)
        for relative in PUBLIC_DIRS:
            _directory(done, relative, 0o755)
        _owned(done, f"{UNIT_DIR}/{UNIT_NAME}", unit_text(tandemd))
        _owned(done, "etc/logrotate.d/tandem", logrotate_text())
        _default(done, "etc/default/tandemd", DEFAULTS_TEXT)
        _directory(done, f"{HA_ROOT}/bin", 0o755)
        for name in sorted(tools):
            _link(done, f"{HA_ROOT}/bin/{name}", tool_path(name))
        for name, reader in sorted({**HA_LISTS, **readers(tools)}.items()):
            _default(done, f"{HA_ROOT}/{name}", f"# /etc/HA/{name}: read by {reader}.\n"
                                                f"# Lines starting with # are comments.\n")
    except OSError as exc:
        raise InstallError(f"{exc.filename or root}: {exc.strerror or exc}") from None
    return done


def readers(tools: dict[str, str]) -> dict[str, str]:
    """Data file name -> the tool that reads it, for the tools that have one."""
    found: dict[str, str] = {}
    for tool, data in tools.items():
        if data:
            found[data] = f"{tool} (see `{tool} --help` for the format)"
    return found


def _directory(done: Layout, relative: str, mode: int) -> None:
    path = done.path(relative)
    if path.is_dir():
        return
    path.mkdir(parents=True, mode=mode)
    os.chmod(path, mode)
    done.say("created", relative + "/")


def _owned(done: Layout, relative: str, text: str) -> None:
    """A file tandem owns: rewritten when it differs."""
    path = done.path(relative)
    if path.exists() and path.read_text() == text:
        done.say("unchanged", relative)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    done.say("updated" if path.exists() else "wrote", relative)
    replace_file(path, text.encode(), 0o644)


def _default(done: Layout, relative: str, text: str) -> None:
    """A file the administrator owns: written once, never replaced."""
    path = done.path(relative)
    if path.exists():
        done.say("kept", relative)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text.encode(), 0o644)
    done.say("wrote", relative)


def _link(done: Layout, relative: str, target: str) -> None:
    path = done.path(relative)
    if path.is_symlink() and os.readlink(path) == target:
        return
    if path.exists() and not path.is_symlink():
        done.say("kept", relative + " (a file of its own, not a link)")
        return
    if path.is_symlink():
        path.unlink()
    path.symlink_to(target)
    done.say("linked", f"{relative} -> {target}")


def installed(name: str) -> str:
    """The absolute path of entry point `name` installed beside this Python."""
    return str(Path(sys.executable).with_name(name))
