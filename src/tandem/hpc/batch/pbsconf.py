"""/etc/pbs.conf of PBS Professional: read it, and write the four variants a cluster
with a highly available PBS server needs.

Every node names the same three hosts: PBS_SERVER (the host clients ask first: the
primary management node), PBS_PRIMARY and PBS_SECONDARY (the two management nodes,
between which the server fails over). What differs is which daemons the node starts
(PBS_START_SERVER, _MOM, _SCHED):

    role        server  mom  sched
    primary       1      0     1     the first management node runs the server
    secondary     0      0     1     the second one only its scheduler, until failover
    compute       0      1     0     a compute node runs a MOM (job executor)
    login         0      0     0     a login node runs nothing, it only submits

PBS_HOME (the server's state: queues, jobs) must be on the disk that moves with the
server; `tandem batch check --pbs` verifies that against the cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.batch import BatchConfError, Setting, read_assignments, read_conf_text

ROLES: dict[str, tuple[int, int, int]] = {
    "primary": (1, 0, 1), "secondary": (0, 0, 1), "compute": (0, 1, 0), "login": (0, 0, 0),
}
START_KEYS = ("PBS_START_SERVER", "PBS_START_MOM", "PBS_START_SCHED")
DEFAULT_EXEC = "/usr/pbs"
DEFAULT_HOME = "/var/spool/PBS"
DEFAULT_SCP = "/usr/bin/scp"
ROLE_TEXT = {
    "primary": "the primary management node: it runs the PBS server and scheduler",
    "secondary": "the secondary management node: it starts only the scheduler, the "
                 "server comes up here when the primary fails",
    "compute": "a compute node: it runs a MOM, which executes the jobs",
    "login": "a login node: no PBS daemon, users submit jobs from it",
}


@dataclass(frozen=True)
class PbsConf:
    """The settings of one pbs.conf, by key as written (PBS's keys are upper case)."""

    path: str
    settings: dict[str, Setting]

    def get(self, key: str) -> Setting | None:
        return self.settings.get(key)

    def value(self, key: str) -> str | None:
        found = self.settings.get(key)
        return found.value if found is not None else None

    @property
    def starts(self) -> tuple[int, int, int]:
        """(server, mom, sched): 1 where the node starts that daemon (0 when unset)."""
        server, mom, sched = (int(self.value(k) or "0") for k in START_KEYS)
        return server, mom, sched

    @property
    def role(self) -> str | None:
        """Which of the four variants the start flags are (None: none of them)."""
        return next((name for name, flags in ROLES.items() if flags == self.starts), None)


@dataclass(frozen=True)
class PbsVariant:
    """What a generated pbs.conf says: the node's role and the three hosts."""

    role: str
    primary: str
    secondary: str
    server: str | None = None  # None: the primary, as every node has it in the manual
    home: str = DEFAULT_HOME
    exec_dir: str = DEFAULT_EXEC
    scp: str = DEFAULT_SCP


def read_pbs_conf(path: str | Path) -> PbsConf:
    """Read and parse the pbs.conf at `path`; BatchConfError naming the problem."""
    return parse_pbs_conf(read_conf_text(path), str(path))


def parse_pbs_conf(text: str, file: str = "pbs.conf") -> PbsConf:
    """Parse pbs.conf text; a start flag other than 0 or 1 is a BatchConfError naming
    its line (PBS's start script would take it for "no")."""
    settings = read_assignments(text, file)
    for key in START_KEYS:
        setting = settings.get(key)
        if setting is not None and setting.value not in ("0", "1"):
            raise BatchConfError(f"{file}:{setting.line}: {key}={setting.value}: expected "
                                 f"0 or 1")
    return PbsConf(file, settings)


def pbs_conf_text(variant: PbsVariant) -> str:
    """The pbs.conf of a node of `variant.role`; BatchConfError for an unknown role, a
    pair that is one node, or a value PBS could not read (empty, or with white space)."""
    if variant.role not in ROLES:
        raise BatchConfError(f"unknown PBS role {variant.role!r} (known: {', '.join(ROLES)})")
    if variant.primary == variant.secondary:
        raise BatchConfError(f"the primary and the secondary are the same node "
                         f"({variant.primary})")
    server, mom, sched = ROLES[variant.role]
    values = (
        ("PBS_EXEC", variant.exec_dir), ("PBS_HOME", variant.home),
        ("PBS_START_SERVER", str(server)), ("PBS_START_MOM", str(mom)),
        ("PBS_START_SCHED", str(sched)), ("PBS_SERVER", variant.server or variant.primary),
        ("PBS_PRIMARY", variant.primary), ("PBS_SECONDARY", variant.secondary),
        ("PBS_SCP", variant.scp),
    )
    for key, value in values:
        if not value or any(c.isspace() for c in value):
            raise BatchConfError(f"{key}: {value!r} is not a value pbs.conf can hold (empty, "
                             f"or with white space)")
    header = (f"# /etc/pbs.conf of {ROLE_TEXT[variant.role]}.",
              f"# Generated by `tandem batch generate pbs --role {variant.role}`: the PBS "
              f"server fails over",
              f"# between {variant.primary} (primary) and {variant.secondary} (secondary); "
              f"PBS_HOME must be",
              "# on the disk that moves with it (`tandem batch check --pbs` checks that).")
    return "\n".join((*header, *(f"{key}={value}" for key, value in values))) + "\n"
