"""The commands the management node runs on the nodes, and how their output reads.

Every command is a short shell line run by the node's login shell (ssh) or by `sh -c`
(the exec template). With a remote path, the nodes' PATH gets it in front (where the
`tandem` and `cs` commands are when they are not installed system-wide).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

NODE_CONFIG = "/etc/tandem/cluster.toml"  # where tandemd reads its configuration
NO_CONFIG = "tandem-fleet: no configuration"
_SHA_LINE = re.compile(r"^([0-9a-f]{64})\b")

_CFG = shlex.quote(NODE_CONFIG)
_HASH_OR_NONE = f"if [ -e {_CFG} ]; then sha256sum < {_CFG}"
# First line: the installed configuration's sha256, or NO_CONFIG; then the rest.
STATUS = f"{_HASH_OR_NONE}; else echo '{NO_CONFIG}'; fi; tandem status --json"
READ_CONFIG = f"{_HASH_OR_NONE} && cat {_CFG}; else echo '{NO_CONFIG}'; fi"
INSTALL = "tandem config install --stdin"
START = "cs -c start"
STOP = "cs -c stop"
CHECK = f"tandem config check {_CFG}"


def on_path(command: str, remote_path: str) -> str:
    """`command` with `remote_path` put in front of the node's PATH (if any)."""
    if not remote_path:
        return command
    return f"PATH={shlex.quote(remote_path)}:$PATH; export PATH; {command}"


@dataclass(frozen=True)
class Tagged:
    """An answer to STATUS or READ_CONFIG: the installed configuration's sha256 (None
    without one), whether the node has none at all, and what followed (the status
    document, or the configuration's text)."""

    config_hash: str | None
    blank: bool
    rest: str


def read_tagged(stdout: str) -> Tagged:
    first, _, rest = stdout.partition("\n")
    match = _SHA_LINE.match(first.strip())
    if match:
        return Tagged(match.group(1), False, rest)
    if first.strip() == NO_CONFIG:
        return Tagged(None, True, rest)
    return Tagged(None, False, stdout)
