"""`haunwantedfiles`: services managed by haservices must not start at boot.

The services are the commands of /etc/HA/start, stop and status. A boot start is a
link in a SysV start directory (/etc/rc?.d/S??NAME -> ../init.d/NAME, also under
/etc/rc.d) or a systemd enablement link (/etc/systemd/system/*.wants/NAME.service, and
*.requires, and NAME.socket). `status` fails at the first such link, `report` lists
them all, `repair` parks each one in a HA_UNWANTED directory next to it and stops the
service, `undo` moves every parked link back up. systemd ignores entries of a .wants
directory that are not unit names, so a parked link there is inert, as in rc?.d.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.haservices import Haservices
from tandem.hpc.mgmt.tool import OK, Tool, counted

PARK_DIR = "HA_UNWANTED"
SYSV_DIRS = ("/etc/rc?.d", "/etc/rc.d/rc?.d")
SYSTEMD_DIRS = ("/etc/systemd/system/*.wants", "/etc/systemd/system/*.requires")
UNIT_SUFFIXES = (".service", ".socket")


@dataclass(frozen=True)
class BootLink:
    """A link that starts managed service `service` (whose command is `command`)."""

    path: Path
    service: str
    command: str

    @property
    def parked(self) -> Path:
        return self.path.parent / PARK_DIR / self.path.name


def start_dirs(sysroot: Path) -> list[Path]:
    """Every SysV start directory and systemd wants/requires directory, once each
    (on some systems /etc/rc3.d is itself a link to /etc/rc.d/rc3.d)."""
    found: dict[str, Path] = {}
    for pattern in (*SYSV_DIRS, *SYSTEMD_DIRS):
        for name in sorted(glob.glob(str(sysroot / pattern.lstrip("/")))):
            path = Path(name)
            if path.is_dir():
                found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def _starts(entry: Path, service: str, systemd: bool) -> bool:
    if systemd:
        return entry.name in {service + suffix for suffix in UNIT_SUFFIXES}
    if not entry.name.startswith("S") or not entry.is_symlink():
        return False
    return os.path.basename(os.readlink(entry)) == service


def boot_links(directory: Path, services: dict[str, str]) -> list[BootLink]:
    """The links in `directory` that start one of `services` (name -> command)."""
    systemd = directory.name.endswith((".wants", ".requires"))
    found = []
    for entry in sorted(directory.iterdir()):
        for service, command in services.items():
            if _starts(entry, service, systemd):
                found.append(BootLink(entry, service, command))
    return found


class Haunwantedfiles(Tool):
    name = "haunwantedfiles"
    summary = "keep the services run by haservices from starting at boot"
    actions = ("start", "status", "report", "repair", "undo")

    def services(self) -> dict[str, str]:
        """Managed service name -> its command, from the three haservices files."""
        lister = Haservices(self.ctx)
        found: dict[str, str] = {}
        for action in Haservices.actions:
            for entry in lister.commands(action):
                found.setdefault(os.path.basename(entry.value), entry.value)
        return found

    def find(self) -> list[BootLink]:
        services = self.services()
        return [link for directory in start_dirs(self.ctx.sysroot)
                for link in boot_links(directory, services)]

    def _describe(self, link: BootLink) -> str:
        shown = "/" + str(link.path.relative_to(self.ctx.sysroot))
        target = f" -> {os.readlink(link.path)}" if link.path.is_symlink() else ""
        return f"{shown}{target} starts {link.service} at boot"

    def do_start(self) -> str:
        return self.do_status()

    def do_status(self) -> str:
        links = self.find()
        if links:
            raise CheckFailed(f"{self._describe(links[0])} (`haunwantedfiles repair` parks "
                              f"it)")
        return OK

    def do_report(self) -> str:
        links = self.find()
        for link in links:
            self.ctx.say(self._describe(link))
        if links:
            raise CheckFailed(f"{len(links)} boot-start links of managed services")
        return OK

    def do_repair(self) -> str:
        links = self.find()
        for link in links:  # refuse before moving anything if a parked name is taken
            if os.path.lexists(link.parked):
                raise CheckFailed(f"cannot park {link.path}: {link.parked} already exists")
        for link in links:
            link.parked.parent.mkdir(mode=0o755, exist_ok=True)
            os.rename(link.path, link.parked)
            self.ctx.say(f"parked {self._describe(link)}")
        for service, command in dict((link.service, link.command) for link in links).items():
            self._stop(service, command)
        return OK if not links else f"{OK} ({counted(len(links), 'boot-start link')} parked)"

    def _stop(self, service: str, command: str) -> None:
        """Stop a service whose boot start was removed; failing is normal when it was
        not running, so it is only reported."""
        try:
            result = self.ctx.run([str(self.ctx.host(command)), "stop"])
            verdict = "OK" if result.ok else f"FAILED ({result.tail()})"
        except CheckFailed as exc:
            verdict = f"FAILED ({exc})"
        self.ctx.say(f"service {service} stop {verdict}")

    def do_undo(self) -> str:
        moves = []
        for directory in start_dirs(self.ctx.sysroot):
            park = directory / PARK_DIR
            if not park.is_dir():
                continue
            for entry in sorted(park.iterdir()):
                back = directory / entry.name
                if os.path.lexists(back):
                    raise CheckFailed(f"cannot restore {entry}: {back} exists again")
                moves.append((entry, back))
        for entry, back in moves:
            os.rename(entry, back)
            self.ctx.say(f"restored {back}")
        for park in {entry.parent for entry, _ in moves}:
            if not any(park.iterdir()):
                park.rmdir()
        return OK if not moves else f"{OK} ({counted(len(moves), 'boot-start link')} restored)"
