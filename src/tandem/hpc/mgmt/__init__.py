"""The management-node toolkit (the manual's /etc/HA): haservices and the commands it
runs, each reading its data file under a configurable root (see `tools.TOOLS`), the
`haservices` resource agent that runs the whole pair's service (`agent`), and the
generator of the pair's cell configuration (`config_admin`)."""
