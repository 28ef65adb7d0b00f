"""The batch-system domain: the Slurm controller's resource agent, readers of the batch
systems' configuration files (slurm.conf, pbs.conf, lsf.conf and LSF's hosts file), the
checks of those files against a cell (`tandem batch check`) and the generators of the
PBS Professional and LSF pieces from the inventory (`tandem batch generate`).

What the three readers share lives here: the error a malformed line raises (`FILE:LINE:
problem`, so that an operator can go straight to it) and the reader of the shell-style
`KEY=VALUE` files that PBS and LSF both use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tandem.common.errors import TandemError

ASSIGNMENT_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


class BatchConfError(TandemError):
    """A batch system's configuration file cannot be read, or one of its lines is
    malformed; the message starts with `FILE:LINE:` (or `FILE:` for the whole file)."""


@dataclass(frozen=True)
class Setting:
    """One `KEY=VALUE` of a configuration file, with where it was written (`line` 0:
    not in the file, the batch system's default)."""

    key: str
    value: str
    line: int = 0


def read_conf_text(path: str | Path) -> str:
    """The text of a configuration file; BatchConfError naming it if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchConfError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BatchConfError(f"{path}: not a text file (not UTF-8)") from None


def read_assignments(text: str, file: str) -> dict[str, Setting]:
    """The `KEY=VALUE` lines of a file that a shell could source (pbs.conf, lsf.conf):
    blank lines and `#` comments are skipped, a value may be quoted, the last of two
    settings of a key wins (as when a shell sources it). Anything else is a
    BatchConfError naming the line, since the daemons would misread it too."""
    found: dict[str, Setting] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = ASSIGNMENT_RE.fullmatch(line)
        if match is None:
            raise BatchConfError(f"{file}:{number}: expected KEY=VALUE, got {line!r}")
        key = match.group(1)
        found[key] = Setting(key, _shell_value(match.group(2), file, number), number)
    return found


def _shell_value(text: str, file: str, number: int) -> str:
    """The value of an assignment: quoted ('...' or "...") or one word, then at most a
    `#` comment."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise BatchConfError(f"{file}:{number}: the quote opened in {text!r} is not "
                                 f"closed")
        value, rest = text[1:end], text[end + 1:]
    else:
        value, rest = [*text.split(maxsplit=1), "", ""][:2]
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise BatchConfError(f"{file}:{number}: a value with spaces must be quoted: "
                             f"{text!r}")
    return value
