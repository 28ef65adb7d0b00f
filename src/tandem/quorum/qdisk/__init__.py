"""The quorum disk: one master per shared disk, whose votes make exactly one half of a
split cell quorate.

`config` reads the `[qdisk]` section (registered with tandem.config.sections), `format`
and `device` lay out and access the disk, `protocol` and `elect` run one cycle of slots
and the master election, `heuristics` scores the node, and `runner` drives it all in a
thread of its own. Nothing is imported here, so that reading a configuration does not
load the runner.
"""
