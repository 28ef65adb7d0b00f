"""What `tandem lab status` reports, as plain data (the CLI renders it)."""

from __future__ import annotations

from typing import Any

from tandem.config import ClusterConfig
from tandem.lab import network as net
from tandem.lab.names import LabNames
from tandem.lab.proc import is_alive
from tandem.lab.sampler import LabSampler
from tandem.lab.state import LabRecord, PowerRecord


def lab_status(record: LabRecord, config: ClusterConfig) -> dict[str, Any]:
    """The lab as a JSON-ready dict: nodes, power, addresses, BMCs, disks, mounts."""
    names = LabNames(record.name)
    with LabSampler(record, config) as sampler:
        sample = sampler.sample()
    nodes = []
    for node in config.nodes:
        power = PowerRecord.load(names.power_file(node.name))
        static = {itf.network: str(itf.address) for itf in node.interfaces}
        present = sample.addresses.get(node.name, [])
        static_ips = {str(itf.address.ip) for itf in node.interfaces}
        nodes.append({
            "name": node.name,
            "id": node.id,
            "power": power.power,
            "condition": power.condition,
            "since": power.since,
            "daemon": bool(power.daemon_pid and is_alive(power.daemon_pid)),
            "addresses": static,
            "extra_addresses": [f"{a}/{p} ({i})" for i, a, p in present if a not in static_ips],
            "cut": power.cut,
            "bmc": ({"address": node.bmc.address, "port": node.bmc.port,
                     "user": node.bmc.user,
                     "running": is_alive(record.bmc_pids.get(node.name, 0))}
                    if node.bmc else None),
            "mounts": [{"disk": m.disk, "mountpoint": m.mountpoint}
                       for m in sample.mounts.get(node.name, [])],
        })
    client = net.client_interface(config)
    return {
        "name": record.name,
        "config": record.source,
        "complete": record.complete,
        "nodes": nodes,
        "disks": [{"name": d.name, "path": names.disk_path_in_node(d.name), "loop": d.loop,
                   "file": d.file, "size_bytes": d.size_bytes, "format": d.format}
                  for d in record.disks],
        "client": ({"network": client[0], "address": str(client[1]),
                    "namespace": names.client_ns} if client else None),
    }
