"""The node's side of `tandem cells push`: `tandem config install --stdin` takes the
payload (tandem.fleet.payload), checks everything, then installs the password files
the configuration names and the cluster key (each mode 0600, at its path), and the
configuration, or hands the configuration to the running daemon, which loads it and
passes it to the other members.

Refused, with one line and nothing changed: a damaged payload, a configuration the
loader refuses, a node that is not a member, a configuration older than the one here or
of the same version with other content, and a new key while tandemd runs (the daemon
keeps the key it started with: stop it first).

The daemon is reached through a small protocol, so that this stays testable without
one (the command line passes the real control-socket client).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tandem.common.errors import TandemError
from tandem.config import ClusterConfig, parse_config
from tandem.daemon.configpush import install as install_file
from tandem.fleet.errors import FleetError
from tandem.fleet.payload import Payload
from tandem.fleet.privfile import write_private
from tandem.fleet.remote import NODE_CONFIG
from tandem.fleet.secrets import check_secrets, write_secret


class InstallRefused(FleetError):
    """The node refuses what it was sent (nothing was changed)."""


class Daemon(Protocol):
    """The local tandemd, as far as an install needs it."""

    def running_version(self) -> int | None:
        """The config_version it runs; None when no daemon runs here."""
        ...

    def push(self, text: str) -> None:
        """Have it load `text` (it sends it on to the other members); a TandemError
        if it refuses."""
        ...


@dataclass(frozen=True)
class NodeFiles:
    """Where the node keeps its configuration; key files are under `root` (tests)."""

    config: Path = Path(NODE_CONFIG)
    root: Path = Path("/")

    def key_path(self, config: ClusterConfig) -> Path:
        return self.root / config.key_file.lstrip("/")

    def under_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def install(payload: Payload, node: str, files: NodeFiles, daemon: Daemon) -> str:
    """Install `payload` on `node`; one line saying what was done."""
    config = parse_config(payload.text, f"configuration of {payload.cell} (pushed)")
    if config.name != payload.cell:
        raise InstallRefused(f"the configuration is for cell {config.name}, "
                             f"not {payload.cell}")
    if node not in {n.name for n in config.nodes}:
        raise InstallRefused(f"this node ({node}) is not a member of cell {config.name} "
                             f"({', '.join(n.name for n in config.nodes)})")
    running = daemon.running_version()
    action = _config_action(payload.text, config.config_version, files.config, running)
    key_action = _key_action(payload, files.key_path(config), running)
    check_secrets(payload.secrets)
    written = sum(write_secret(files.under_root(path), value)
                  for path, value in sorted(payload.secrets.items()))
    if key_action == "installed":
        assert payload.key_hex is not None
        write_key(files.key_path(config), payload.key_hex)
    if action == "load":
        said = _load(daemon, payload.text, config.config_version)
    elif action == "install":
        install_file(files.config, payload.text)
        said = "installed (tandemd not running)"
    else:
        said = "already in place"
    line = f"{config.name} version {config.config_version} {said}"
    line += f"; key {key_action}" if key_action else ""
    if payload.secrets:
        line += (f"; {written} of {len(payload.secrets)} password files installed"
                 if written else f"; {len(payload.secrets)} password files unchanged")
    return line


def _config_action(text: str, version: int, path: Path, running: int | None) -> str:
    """"unchanged", "install" or "load"; InstallRefused when it must not go in."""
    installed, installed_version = _installed(path)
    here = running if running is not None else installed_version
    if installed == text and (running is None or running == version):
        return "unchanged"
    if here is not None and here > version:
        raise InstallRefused(f"this node has version {here}, newer than the pushed "
                             f"version {version}")
    if here == version:
        raise InstallRefused(f"this node has version {version} with other content "
                             f"(edited by hand?): raise config_version at the source")
    return "install" if running is None else "load"


def _installed(path: Path) -> tuple[str | None, int | None]:
    """The installed configuration and its version (None: absent or unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallRefused(f"cannot read {path}: {exc}") from None
    try:
        return text, parse_config(text, str(path)).config_version
    except TandemError:
        return text, None  # a broken file is replaced by a good one


def _key_action(payload: Payload, path: Path, running: int | None) -> str:
    """"" (no key sent), "unchanged" or "installed"; InstallRefused for a new key under
    a running daemon."""
    if payload.key_hex is None:
        return ""
    try:
        current = path.read_text(encoding="ascii").strip().lower()
    except FileNotFoundError:
        current = None
    except (OSError, UnicodeDecodeError):
        current = ""
    if current == payload.key_hex.lower():
        return "unchanged"
    if running is not None:
        raise InstallRefused(f"the cluster key sent differs from {path}, which tandemd "
                             f"runs with: stop it here first (cs -c stop)")
    return "installed"


def write_key(path: Path, key_hex: str) -> None:
    """Replace the key file atomically; the file is 0600 from its creation on."""
    write_private(path, (key_hex.lower() + "\n").encode("ascii"), "cluster key")


def _load(daemon: Daemon, text: str, version: int) -> str:
    """Hand `text` to the running daemon. A peer that got the push first may already
    have passed it on: that is no failure."""
    try:
        daemon.push(text)
    except TandemError:
        if daemon.running_version() == version:
            return "loaded by tandemd (a peer passed it on first)"
        raise
    return "loaded by tandemd"
