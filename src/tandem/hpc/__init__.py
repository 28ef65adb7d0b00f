"""HPC domains built on the engine: the management-node toolkit (and, later, Lustre, NFS
and batch systems)."""
