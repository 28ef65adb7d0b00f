"""`tandem install`: lay out this server (or an image with --root) for tandem: the
systemd unit, logrotate, /etc/default/tandemd, the /etc/HA/bin links and commented
default /etc/HA data files (see tandem.system.layout)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tandem.cli.common import UsageError
from tandem.system.layout import install, installed


def register(sub: Any) -> None:
    p = sub.add_parser("install", help="install the systemd unit, logrotate snippet and "
                                       "/etc/HA layout (idempotent)",
                       description="Lay out this server for tandem; run again after an "
                                   "upgrade. Files you edit are never overwritten.")
    p.add_argument("--root", default="/", help="install under this directory (an image "
                                               "being built), not on this system")
    p.add_argument("--tandemd", default=None,
                   help="path of tandemd for the unit (default: the one beside this tandem)")
    p.add_argument("--json", action="store_true", help="what was done, as JSON")
    p.set_defaults(func=cmd_install)


def toolkit() -> dict[str, str]:
    """Every /etc/HA tool and the data file it reads ("" if none)."""
    from tandem.hpc.mgmt.tools import TOOLS

    return {name: str(getattr(sys.modules[tool.__module__], "DATA_FILE", ""))
            for name, tool in TOOLS.items()}


def cmd_install(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"--root {args.root}: not a directory")
    tandemd = args.tandemd or installed("tandemd")
    done = install(root, tandemd, installed, toolkit())
    reloaded = False
    if root.resolve() == Path("/") and os.path.isdir("/run/systemd/system") \
            and shutil.which("systemctl"):
        reloaded = subprocess.run(["systemctl", "daemon-reload"], capture_output=True,
                                  timeout=60).returncode == 0
    if args.json:
        print(json.dumps({"root": str(root), "tandemd": tandemd, "done": done.lines,
                          "daemon_reloaded": reloaded}))
        return 0
    for line in done.lines:
        print(line)
    print("next: systemctl enable --now tandemd   (or `cs -c start` without systemd)"
          if root.resolve() == Path("/") else f"installed under {root}")
    return 0
