"""A site in the lab (`tandem lab up --site DIR`): the management node and every cell of
a directory source (tandem.fleet.directory) as nodes of one lab, on shared networks.

The lab is still built from one configuration: a "lab view" made here from the cells,
never run by any daemon. It lists the management node and every member with its
interfaces and BMC (node ids renumbered for the lab, fence levels left out); only the
admin network is a heartbeat ring in it, so that the management node needs no other.
The nodes boot blank (no configuration, no key: the management node pushes them) and
run sshd; no tandemd starts by itself. A BMC's password file is read on the host when
the lab is built (tandem.lab.bmcauth), a relative one from its cell file's directory.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.config.model import BmcDef, LabDef, NetworkDef, NodeDef, NodeInterface
from tandem.config.writer import Notes, config_text
from tandem.fleet.directory import DirectorySource
from tandem.lab import builder
from tandem.lab.proc import LabError
from tandem.lab.state import LabRecord

LAB_VIEW_NAME = "site"
KEY_FILE = "/etc/tandem/cluster.key"
# Private to each node: sshd's privilege separation directory, and /run/systemd, so that
# `cs` in a node never reaches the host's systemd.
SITE_RUNTIME_DIRS = ("/run/sshd", "/run/systemd")


def site_lab_up(directory: str | Path, name: str, *,
                progress: builder.Progress = builder.quiet) -> LabRecord:
    """Build lab `name` for the site in `directory`: blank nodes running sshd, no
    daemon started (the management node pushes and starts them)."""
    text = site_lab_text(directory)
    with tempfile.TemporaryDirectory(prefix="tandem-site-") as tmp:
        view = Path(tmp) / f"{name}.toml"
        view.write_text(text)
        return builder.lab_up(str(view), name, progress=progress, blank=True, sshd=True,
                              source=str(Path(directory).resolve()))


def site_lab_text(directory: str | Path) -> str:
    """The lab view of the site in `directory`, as TOML."""
    return config_text(site_lab_config(DirectorySource(directory)),
                       Notes(header=(f"Lab view of the site in {directory}: every node "
                                     f"of every cell, for `tandem lab` only.",)))


def site_lab_config(source: DirectorySource) -> ClusterConfig:
    site = source.site
    if site.management is None:
        raise LabError(f"{source.directory}/site.toml has no [management] node: the lab "
                       f"builds one beside the cells")
    cells = [c.config for c in source.cells()]
    admin = site.admin_network
    mgmt = site.management
    nodes = [NodeDef(mgmt.name, 1, interfaces=(NodeInterface(admin, mgmt.interface,
                                                             mgmt.address),))]
    for cell in source.cells():
        for node in cell.config.nodes:
            nodes.append(dataclasses.replace(node, id=len(nodes) + 1, fence=(),
                                             bmc=_from(node.bmc, cell.file.parent)))
    names = dict.fromkeys(net.name for c in cells for net in c.networks)
    if admin not in names:
        raise LabError(f"no cell has the admin network {admin!r}")
    networks = tuple(NetworkDef(n, 0 if n == admin else None) for n in names)
    return ClusterConfig(name=LAB_VIEW_NAME, key_file=KEY_FILE, networks=networks,
                         nodes=tuple(nodes), lab=_lab(cells))


def _from(bmc: BmcDef | None, directory: Path) -> BmcDef | None:
    """A BMC whose password file, if relative, is named from the cell file's directory
    (the lab view is written elsewhere; the lab reads the file on the host)."""
    if bmc is None or bmc.password_file is None or Path(bmc.password_file).is_absolute():
        return bmc
    return dataclasses.replace(bmc, password_file=str(directory.resolve() /
                                                      bmc.password_file))


def _lab(cells: list[ClusterConfig]) -> LabDef:
    disks = [d for c in cells for d in (c.lab.disks if c.lab else ())]
    seen: set[str] = set()
    for disk in disks:
        if disk.name in seen:
            raise LabError(f"two cells have a lab disk named {disk.name!r}: a site lab "
                           f"needs distinct names")
        seen.add(disk.name)
    dirs = [d for c in cells for d in (c.lab.private_dirs if c.lab else ())]
    return LabDef(disks=tuple(disks),
                  private_dirs=tuple(dict.fromkeys([*dirs, *SITE_RUNTIME_DIRS])))
