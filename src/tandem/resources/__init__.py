"""Resource agents: the things a service is made of (addresses, mounts, daemons...)."""
