"""`haadminnodes`: list the management nodes, one per line (the peer tools use the same
list to find the other node)."""

from __future__ import annotations

from tandem.hpc.mgmt.nodes import admin_nodes
from tandem.hpc.mgmt.tool import Tool


class Haadminnodes(Tool):
    name = "haadminnodes"
    summary = "list the management nodes"
    actions = ("list",)
    default_action = "list"

    def do_list(self) -> str:
        nodes = admin_nodes(self.ctx)
        for node in nodes:
            self.ctx.say(node)
        return ""  # the list is the answer: no summary line after it
