"""The benchmarks' own setup: the peers' Debian packages and matplotlib, installed once.

Idempotent: it asks dpkg and Python what is there and installs only what is missing.
A `/usr/sbin/policy-rc.d` that exits 101 keeps every package from starting its daemon
in the host namespace at install time; the benchmarks start them inside lab nodes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from benchlib.errors import BenchError

PEER_PACKAGES = ("pacemaker", "corosync", "crmsh", "resource-agents", "fence-agents",
                 "keepalived", "ipmitool", "busybox", "iputils-arping")
PIP_PACKAGES = {"matplotlib": "matplotlib"}
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# The host must never run the peers' daemons: Debian enables their units at install.
HOST_UNITS = ("corosync", "pacemaker", "keepalived")


def _installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0 and "install ok installed" in done.stdout


def _run(argv: list[str], what: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                          timeout=1800)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{what} failed: {' | '.join(tail)}")


def ensure_policy_rc() -> None:
    """Nothing installed may start a service by itself."""
    if not POLICY_RC.exists():
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)


def ensure_debian(packages: Sequence[str], say: Callable[[str], None]) -> list[str]:
    """Install the Debian packages of `packages` that are missing (none may start a
    service by itself); returns their names."""
    if os.geteuid() != 0:
        raise BenchError("the benchmarks need root (namespaces, packages)")
    missing = [p for p in packages if not _installed(p)]
    if missing:
        ensure_policy_rc()
        say(f"installing Debian packages: {' '.join(missing)}")
        _run(["apt-get", "update", "-q"], "apt-get update")
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
             "apt-get install")
    return missing


def ensure_packages(say: Callable[[str], None], *, pip: bool = True) -> list[str]:
    """Install what the stack comparisons need and is missing; returns the names of
    what was installed."""
    done = ensure_debian(PEER_PACKAGES, say)
    wanted = [pkg for mod, pkg in PIP_PACKAGES.items() if importlib.util.find_spec(mod) is None]
    if pip and wanted:
        say(f"installing Python packages: {' '.join(wanted)}")
        _run([sys.executable, "-m", "pip", "install", "-q", *wanted], "pip install")
        done.extend(wanted)
    return done
