"""The quorum disk: one master per shared disk, whose votes make exactly one half of a
split cell quorate.

`config` reads the `[qdisk]` section (registered with tandem.config.sections), `format`
and `device` lay out and access the disk, `protocol` and `elect` run one cycle of slots
and the master election, `heuristics` scores the node, and `runner` drives it all in a
thread of its own. The runner's two public names are kept here for the engine.
"""

from tandem.quorum.qdisk.runner import QdiskView, QuorumDisk

__all__ = ["QdiskView", "QuorumDisk"]
