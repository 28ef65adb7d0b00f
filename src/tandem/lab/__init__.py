"""Virtual cells on one machine: namespaces as nodes, bridges as networks, loop devices as
shared disks, IPMI-speaking virtual BMCs, fault injection and a split-brain watch."""
