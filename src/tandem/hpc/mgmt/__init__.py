"""The management-node toolkit (the manual's /etc/HA): haservices and the commands it
runs, each reading its data file under a configurable root. See `tools.TOOLS`."""
