"""`tandem batch check | generate`: batch-system controllers under the cell's HA.

`check` reads a slurm.conf, pbs.conf or lsf.conf (with LSF's hosts file) and says, one
line each, what would break a failover of the cell's service (tandem.hpc.batch.check).
Exit status: 0 when nothing is an error (warnings alone do not fail), 1 when something
is, or when a file cannot be read; 2 for a bad command line.

`generate` writes the management pair's pbs.conf variants and LSF's hosts file from
the inventory (tandem.hpc.batch.generate), to standard output or, atomically, to
`--output` (nothing is written when generation fails).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json
from tandem.common.errors import EXIT_FAILED, EXIT_OK
from tandem.config import ClusterConfig, load_config
from tandem.hpc.batch import BatchConfError, check
from tandem.hpc.batch.lsfconf import Resolver, read_hosts, read_lsf_conf
from tandem.hpc.batch.pbsconf import ROLES, read_pbs_conf
from tandem.hpc.batch.slurmconf import read_slurm_conf
from tandem.util.atomicfile import replace_file

if TYPE_CHECKING:
    from tandem.hpc.batch.generate import Pair

SYSTEMS = ("slurm", "pbs", "lsf")
PUBLIC_MODE = 0o644  # a batch system's configuration holds no secret


def register(sub: Sub) -> None:
    batch = sub.add_parser("batch", help="batch-system controllers (Slurm, PBS, LSF) under "
                                         "HA: check their files, generate PBS/LSF ones",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    batch.set_defaults(group_parser=batch)
    cmds = batch.add_subparsers(title="batch commands", metavar="COMMAND")
    _register_check(cmds)
    _register_generate(cmds)


def _register_check(cmds: Sub) -> None:
    text = ("say, one line each, what in a batch system's configuration would break a "
            "failover of the cell's service")
    check = cmds.add_parser("check", help=text, description=text)
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--slurm", metavar="FILE", help="a slurm.conf")
    which.add_argument("--pbs", metavar="FILE", help="a PBS Professional pbs.conf")
    which.add_argument("--lsf", metavar="FILE", help="an LSF lsf.conf")
    check.add_argument("--lsf-hosts", metavar="FILE",
                       help="LSF's hosts file (default: `hosts` beside lsf.conf, if any)")
    check.add_argument("--cell", metavar="CELL.toml", required=True,
                       help="the cell configuration the controller runs in")
    check.add_argument("--service", metavar="NAME",
                       help="the service to check against (default: the one with a "
                            "slurmctld resource, else the one that mounts the state "
                            "directory, else the first with a file system)")
    check.add_argument("--hosts", metavar="FILE",
                       help="resolve names with this hosts file only, not the system's "
                            "resolver")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check)


def _register_generate(cmds: Sub) -> None:
    text = "write a management pair's PBS or LSF file from the inventory"
    gen = cmds.add_parser("generate", help=text, description=text)
    gen.set_defaults(group_parser=gen)
    kinds = gen.add_subparsers(title="files", metavar="FILE")
    pbs = kinds.add_parser("pbs", help="/etc/pbs.conf of a node of the given role",
                           description="/etc/pbs.conf of a primary or secondary "
                                       "management node, a compute or a login node")
    pbs.add_argument("--role", choices=list(ROLES), required=True)
    pbs.add_argument("--server", metavar="NAME",
                     help="PBS_SERVER (default: the primary, as on every node in the manual)")
    pbs.add_argument("--pbs-home", metavar="DIR", help="PBS_HOME (default /var/spool/PBS)")
    pbs.add_argument("--pbs-exec", metavar="DIR", help="PBS_EXEC (default /usr/pbs)")
    pbs.add_argument("--scp", metavar="PATH", help="PBS_SCP (default /usr/bin/scp)")
    _pair_options(pbs)
    pbs.set_defaults(func=cmd_generate_pbs)
    lsf = kinds.add_parser("lsf-hosts", help="$LSF_ENVDIR/hosts: a virtual name for the "
                                             "active management node",
                           description="$LSF_ENVDIR/hosts: the virtual name at the service "
                                       "address, each management node at its own address")
    lsf.add_argument("--virtual-name", metavar="NAME", required=True,
                     help="the name LSF knows the active management node by")
    lsf.add_argument("--address", metavar="ADDR",
                     help="the service address (default: the ip resource of the pair's "
                          "cell)")
    lsf.add_argument("--network", metavar="NAME",
                     help="take each node's address on this network (default: the one "
                          "the service address is in)")
    _pair_options(lsf)
    lsf.set_defaults(func=cmd_generate_lsf_hosts)


def _pair_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL",
                        help="the inventory database (default: $TANDEM_DB, else "
                             "sqlite:////var/lib/tandem/inventory.db)")
    parser.add_argument("--cell", metavar="NAME",
                        help="the pair's cell (default: the inventory's management cell)")
    parser.add_argument("--primary", metavar="NODE",
                        help="with --secondary: the pair, when the inventory cannot say")
    parser.add_argument("--secondary", metavar="NODE")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write here, atomically (default: standard output)")


# -- check ----------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    if args.lsf_hosts and not args.lsf:
        raise UsageError("--lsf-hosts goes with --lsf")
    system, file = next((s, getattr(args, s)) for s in SYSTEMS if getattr(args, s))
    config = load_config(args.cell)
    report = run_check(system, file, config, service=args.service, hosts=args.hosts,
                       lsf_hosts=args.lsf_hosts)
    if args.json:
        print_json(report.as_dict())
    else:
        for finding in report.findings:
            print(finding)
        print(summary(report))
    return EXIT_FAILED if report.count("error") else EXIT_OK


def run_check(system: str, file: str, config: ClusterConfig, *, service: str | None = None,
              hosts: str | None = None, lsf_hosts: str | None = None) -> check.Report:
    """Read `file` (and the hosts files) and check it against the cell `config`; LSF's
    hosts file is `lsf_hosts`, else `hosts` beside lsf.conf if there is one."""
    base = [read_hosts(hosts)] if hosts else []
    use_system = hosts is None
    if system == "slurm":
        slurm = read_slurm_conf(file)
        target = check.pick_target(config, service, agent=check.SLURMCTLD,
                                   state_dir=slurm.state_save_location.value)
        return check.check_slurm(slurm, target, Resolver(base, system=use_system))
    if system == "pbs":
        pbs = read_pbs_conf(file)
        home = pbs.get("PBS_HOME")
        target = check.pick_target(config, service, state_dir=home.value if home else None)
        return check.check_pbs(pbs, target, Resolver(base, system=use_system))
    lsf = read_lsf_conf(file)
    beside = Path(file).with_name("hosts")
    path = lsf_hosts or (str(beside) if beside.is_file() else None)
    own = read_hosts(path) if path else None
    sharedir = lsf.sharedir
    target = check.pick_target(config, service, state_dir=sharedir.value if sharedir else None)
    resolver = Resolver([*([own] if own else []), *base], system=use_system)
    return check.check_lsf(lsf, own, target, resolver)


def summary(report: check.Report) -> str:
    """The last line: what was checked against, and how it went."""
    against = f"service {report.service} of cell {report.cell}"
    if report.system == "slurm":
        against += (f" (mode {report.mode}, failover up to "
                    f"{report.failover_estimate_s:g} s)")
    errors, warnings = report.count("error"), report.count("warning")
    if not errors and not warnings:
        return f"{report.file}: nothing found that would break a failover of {against}"
    return (f"{report.file}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')} "
            f"for a failover of {against}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- generate -------------------------------------------------------------------------------------
def cmd_generate_pbs(args: argparse.Namespace) -> int:
    from tandem.hpc.batch import generate

    text = generate.pbs_conf(_pair(args), args.role, server=args.server, home=args.pbs_home,
                             exec_dir=args.pbs_exec, scp=args.scp)
    return emit(text, args.output)


def cmd_generate_lsf_hosts(args: argparse.Namespace) -> int:
    from tandem.hpc.batch import generate

    text = generate.lsf_hosts(_pair(args), args.virtual_name, address=args.address,
                              network=args.network)
    return emit(text, args.output)


def _pair(args: argparse.Namespace) -> Pair:
    from tandem.hpc.batch.generate import find_pair
    from tandem.inventory.database import Database

    if (args.primary is None) != (args.secondary is None):
        raise UsageError("give both --primary NODE and --secondary NODE, or neither")
    return find_pair(Database(args.db), cell=args.cell, primary=args.primary,
                     secondary=args.secondary)


def emit(text: str, output: str | None) -> int:
    """`text` on standard output, or written to `output` in one step."""
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(Path(output), text)
        print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (mode 0644): a reader sees the old file or the new one,
    never half of it. BatchConfError naming the file if it cannot be written."""
    try:
        replace_file(path, text.encode("utf-8"), PUBLIC_MODE)
    except OSError as exc:
        raise BatchConfError(f"{path}: cannot write: {exc.strerror or exc}") from None
