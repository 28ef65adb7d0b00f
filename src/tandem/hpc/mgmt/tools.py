"""Every toolkit command by its manual name."""

from __future__ import annotations

from tandem.hpc.mgmt.haadminnodes import Haadminnodes
from tandem.hpc.mgmt.hacron import Hacron
from tandem.hpc.mgmt.hadown import Hadown
from tandem.hpc.mgmt.hafake import Hafake
from tandem.hpc.mgmt.haip import Haip
from tandem.hpc.mgmt.halinks import Halinks
from tandem.hpc.mgmt.hamount import Hamount
from tandem.hpc.mgmt.hapidcleaner import Hapidcleaner
from tandem.hpc.mgmt.harpms import Harpms
from tandem.hpc.mgmt.haservices import Haservices
from tandem.hpc.mgmt.hasynchro import Hasynchro
from tandem.hpc.mgmt.hasyslog import Hasyslog
from tandem.hpc.mgmt.hatstfs import Hatstfs
from tandem.hpc.mgmt.haunwantedfiles import Haunwantedfiles
from tandem.hpc.mgmt.haupdatedb import Haupdatedb
from tandem.hpc.mgmt.tool import Tool

TOOLS: dict[str, type[Tool]] = {tool.name: tool for tool in (
    Haservices, Haip, Hamount, Halinks, Hapidcleaner, Hasynchro, Hacron, Haunwantedfiles,
    Harpms, Hatstfs, Haadminnodes, Hafake, Hadown, Hasyslog, Haupdatedb)}


def get_tool(name: str) -> type[Tool]:
    """The tool called `name`; KeyError naming the known ones otherwise."""
    try:
        return TOOLS[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r} (known: {', '.join(sorted(TOOLS))})") \
            from None
