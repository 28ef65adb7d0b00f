"""The NFS domain: an active/passive NFS I/O cell (the manual's HA_NFS service) — the
`nfs_server` agent running NFS-Ganesha with a configuration generated from the exports,
the reader of /etc/storageadmin/haionfs.conf and the generator of the cell's service."""
