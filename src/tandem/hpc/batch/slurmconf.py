"""Reading slurm.conf: what a failover depends on (the controller hosts, the state
directory, the controller's timeout, user and port), with the line each came from.

The syntax is Slurm's: `Key=Value` pairs, several to a line, keys in any case, values
in double quotes when they hold spaces, `#` to the end of the line a comment (`\\#` a
literal one), a `\\` at the end of a line continuing it. A line that starts with a
record key (NodeName, PartitionName, ...) describes one record and is not read further.
`Include FILE` lines are recorded, not followed: what an included file sets is not seen.

Controllers: every `SlurmctldHost=NAME[(ADDRESS)]` line in order, the first the primary.
Without any, the legacy ControlMachine/ControlAddr and BackupController/BackupAddr; with
both, Slurm ignores the legacy keys, and so does this reader (they are kept in
`SlurmConf.ignored`, so that a check can say so). What Slurm itself refuses to start
with (no controller, a host listed twice, a timeout that is not a number) is a
BatchConfError naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.batch import BatchConfError, Setting, read_conf_text

DEFAULT_STATE_SAVE_LOCATION = "/var/spool"  # slurm.conf(5) of Slurm 22.05
DEFAULT_SLURMCTLD_TIMEOUT_S = 120
DEFAULT_SLURM_USER = "root"
MAX_SLURMCTLD_TIMEOUT_S = 65533
RECORD_KEYS = frozenset({"nodename", "partitionname", "downnodes", "frontendname",
                         "nodeset", "switchname"})
LEGACY_KEYS = ("controlmachine", "controladdr", "backupcontroller", "backupaddr")
PAIR_RE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*("[^"]*"|[^\s"]*)')
HOST_RE = re.compile(r"([^\s()]+)(?:\(([^\s()]+)\))?")
INCLUDE_RE = re.compile(r"include\s+(\S.*)", re.IGNORECASE)


@dataclass(frozen=True)
class ControllerHost:
    """One controller: the host name slurmctld runs on (`hostname -s`, or the long
    name), the address the others reach it at if one is given, and its line."""

    name: str
    address: str | None
    line: int

    @property
    def text(self) -> str:
        return f"{self.name}({self.address})" if self.address else self.name


@dataclass(frozen=True)
class SlurmConf:
    """What a slurm.conf sets, by lower-case key (the last setting of a key wins)."""

    path: str
    settings: dict[str, Setting]
    controllers: tuple[ControllerHost, ...]
    includes: tuple[Setting, ...] = ()
    ignored: tuple[Setting, ...] = ()

    def get(self, key: str, default: str | None = None) -> Setting | None:
        """The setting of `key` (any case); else `default` as a setting at line 0."""
        found = self.settings.get(key.lower())
        if found is None and default is not None:
            return Setting(key, default, 0)
        return found

    @property
    def state_save_location(self) -> Setting:
        found = self.get("StateSaveLocation", DEFAULT_STATE_SAVE_LOCATION)
        assert found is not None
        return found

    @property
    def slurmctld_timeout(self) -> Setting:
        found = self.get("SlurmctldTimeout", str(DEFAULT_SLURMCTLD_TIMEOUT_S))
        assert found is not None
        return found

    @property
    def slurmctld_timeout_s(self) -> int:
        """SlurmctldTimeout in seconds (checked to be a number when the file was read)."""
        return int(self.slurmctld_timeout.value)

    @property
    def slurm_user(self) -> str:
        found = self.get("SlurmUser", DEFAULT_SLURM_USER)
        assert found is not None
        return found.value

    @property
    def slurmctld_port(self) -> str | None:
        """SlurmctldPort as written (a port or a range such as 6817-6818), if set."""
        found = self.get("SlurmctldPort")
        return found.value if found is not None else None


def read_slurm_conf(path: str | Path) -> SlurmConf:
    """Read and parse the slurm.conf at `path`; BatchConfError naming the problem."""
    return parse_slurm_conf(read_conf_text(path), str(path))


def parse_slurm_conf(text: str, file: str = "slurm.conf") -> SlurmConf:
    """Parse slurm.conf text; BatchConfError `FILE:LINE: problem` on a malformed line."""
    settings: dict[str, Setting] = {}
    hosts: list[Setting] = []
    includes: list[Setting] = []
    for number, line in logical_lines(text):
        include = INCLUDE_RE.fullmatch(line)
        if include is not None:
            includes.append(Setting("Include", include.group(1).strip(), number))
            continue
        first = PAIR_RE.match(line)
        if first is not None and first.group(1).lower() in RECORD_KEYS:
            continue
        for key, value in _pairs(line, file, number):
            setting = Setting(key, value, number)
            if key.lower() == "slurmctldhost":
                hosts.append(setting)
            else:
                settings[key.lower()] = setting
    _check_timeout(settings.get("slurmctldtimeout"), file)
    if hosts:
        controllers = _controllers(hosts, file)
        ignored = tuple(settings[k] for k in LEGACY_KEYS if k in settings)
    else:
        controllers, ignored = _legacy_controllers(settings, file), ()
    return SlurmConf(file, settings, controllers, tuple(includes), ignored)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-empty line once comments are cut and
    continued lines joined."""
    found: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _uncomment(raw)
        start, before = pending if pending is not None else (number, "")
        if line.endswith("\\"):
            pending = (start, before + line[:-1])
            continue
        pending = None
        joined = (before + line).strip()
        if joined:
            found.append((start, joined))
    if pending is not None and pending[1].strip():
        found.append((pending[0], pending[1].strip()))
    return found


def _uncomment(raw: str) -> str:
    """`raw` without its comment: from the first `#` that is not written `\\#`."""
    match = re.search(r"(?<!\\)#", raw)
    line = raw if match is None else raw[:match.start()]
    return line.replace("\\#", "#").rstrip()


def _pairs(line: str, file: str, number: int) -> list[tuple[str, str]]:
    """The `Key=Value` pairs of one line, in order, quotes removed."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(line):
        match = PAIR_RE.match(line, position)
        if match is None:
            rest = line[position:].strip()
            raise BatchConfError(f"{file}:{number}: expected Key=Value, got {rest!r}")
        key, value = match.group(1), match.group(2)
        pairs.append((key, value[1:-1] if value.startswith('"') else value))
        position = match.end()
        if position < len(line) and not line[position].isspace():
            raise BatchConfError(f"{file}:{number}: expected a space after {key}={value}, "
                                 f"got {line[position:]!r}")
    return pairs


def _check_timeout(setting: Setting | None, file: str) -> None:
    if setting is None:
        return
    value = setting.value
    if not value.isdigit() or int(value) > MAX_SLURMCTLD_TIMEOUT_S:
        raise BatchConfError(f"{file}:{setting.line}: {setting.key}={value}: expected a "
                             f"number of seconds up to {MAX_SLURMCTLD_TIMEOUT_S}")


def _controllers(hosts: list[Setting], file: str) -> tuple[ControllerHost, ...]:
    found: list[ControllerHost] = []
    for setting in hosts:
        match = HOST_RE.fullmatch(setting.value)
        if match is None:
            raise BatchConfError(f"{file}:{setting.line}: {setting.key}={setting.value}: "
                                 f"expected NAME or NAME(ADDRESS)")
        name = match.group(1)
        if any(c.name == name for c in found):
            raise BatchConfError(f"{file}:{setting.line}: {setting.key}={setting.value}: "
                                 f"{name} is already a controller (Slurm refuses a "
                                 f"duplicate)")
        found.append(ControllerHost(name, match.group(2), setting.line))
    return tuple(found)


def _legacy_controllers(settings: dict[str, Setting], file: str) -> tuple[ControllerHost, ...]:
    """ControlMachine(ControlAddr), then BackupController(BackupAddr)."""
    found: list[ControllerHost] = []
    for host_key, addr_key in (("controlmachine", "controladdr"),
                               ("backupcontroller", "backupaddr")):
        host, addr = settings.get(host_key), settings.get(addr_key)
        if host is None and addr is not None:
            raise BatchConfError(f"{file}:{addr.line}: {addr.key} is set without the "
                                 f"host it is the address of")
        if host is not None:
            if not found and host_key != "controlmachine":
                raise BatchConfError(f"{file}:{host.line}: {host.key} is set without "
                                     f"ControlMachine")
            found.append(ControllerHost(host.value, addr.value if addr else None, host.line))
    if not found:
        raise BatchConfError(f"{file}: no SlurmctldHost (nor ControlMachine): Slurm "
                             f"refuses to start without a controller")
    if len(found) == 2 and found[0].name == found[1].name:
        raise BatchConfError(f"{file}:{found[1].line}: BackupController is "
                             f"ControlMachine ({found[0].name})")
    return tuple(found)
