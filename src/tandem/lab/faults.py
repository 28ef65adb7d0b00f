"""Network faults: cables pulled and plugged back, and lossy links.

A cut takes down the fabric side of the node's veth (the switch port), so the node sees
its carrier go away exactly as with a pulled cable, and nothing inside the node changes.
Loss is done with the kernel's netem where it exists; this kernel family often lacks it
(CONFIG_NET_SCH_NETEM), so loss falls back to an nftables rule on the node's interface
(ingress and egress, every protocol including ARP). Delay has no such fallback.
"""

from __future__ import annotations

from tandem.config import ClusterConfig
from tandem.lab import names as N
from tandem.lab import network as net
from tandem.lab.proc import LabError, run
from tandem.lab.state import LabRecord, PowerRecord, node_lock

NFT_TABLE = "tandem_netem"


class NetworkFaults:
    """Cable and link-quality faults of one lab."""

    def __init__(self, record: LabRecord, config: ClusterConfig) -> None:
        self.record = record
        self.config = config
        self.names = N.LabNames(record.name)
        self.index = net.network_index(config)

    def _port(self, node: str, network: str | None, bmc: bool) -> tuple[str, str]:
        try:
            definition = self.config.node(node)
        except KeyError as exc:
            raise LabError(str(exc.args[0])) from None
        if bmc:
            if definition.bmc is None:
                raise LabError(f"node {node} has no BMC")
            return N.bmc_port(definition.id), "bmc"
        if network is None:
            raise LabError("name the network with --net")
        itf = definition.interface_on(network)
        if itf is None:
            nets = ", ".join(i.network for i in definition.interfaces)
            raise LabError(f"node {node} has no interface on network {network!r} "
                           f"(it has: {nets})")
        return N.node_port(definition.id, self.index[network]), network

    def cut(self, node: str, network: str | None, *, bmc: bool = False) -> None:
        """Pull the cable of `node` on `network` (or of its BMC)."""
        self._plug(node, network, bmc, up=False)

    def heal(self, node: str, network: str | None, *, bmc: bool = False) -> None:
        """Plug the cable back."""
        self._plug(node, network, bmc, up=True)

    def _plug(self, node: str, network: str | None, bmc: bool, *, up: bool) -> None:
        port, label = self._port(node, network, bmc)
        net.set_link(self.names.fabric_ns, port, up=up)
        with node_lock(self.names, node):
            power = PowerRecord.load(self.names.power_file(node))
            cut = set(power.cut)
            (cut.discard if up else cut.add)(label)
            power.cut = sorted(cut)
            power.save(self.names.power_file(node))

    def netem(self, node: str, network: str, *, loss_pct: float = 0.0,
              delay_ms: float = 0.0) -> str:
        """Make `node`'s link on `network` lossy (and slow, where the kernel can).
        Returns how it was done. loss 0 and delay 0 clear the impairment."""
        if not 0.0 <= loss_pct <= 100.0:
            raise LabError(f"--loss must be between 0 and 100, got {loss_pct}")
        if delay_ms < 0:
            raise LabError(f"--delay must be >= 0, got {delay_ms}")
        self._port(node, network, False)
        itf = self.config.node(node).interface_on(network)
        assert itf is not None
        ns = f"--net=/run/netns/{self.names.node_ns(node)}"
        ifname = itf.interface
        self._clear(ns, ifname)
        if loss_pct == 0 and delay_ms == 0:
            return "cleared"
        args = ["tc", "qdisc", "replace", "dev", ifname, "root", "netem"]
        if delay_ms:
            args += ["delay", f"{delay_ms}ms"]
        if loss_pct:
            args += ["loss", f"{loss_pct}%"]
        done = run(["nsenter", ns, "--", *args], check=False)
        if done.returncode == 0:
            return "tc netem"
        if delay_ms:
            raise LabError("packet delay needs the kernel's netem qdisc "
                           "(CONFIG_NET_SCH_NETEM), which this kernel lacks; loss alone "
                           "works through nftables")
        run(["nsenter", ns, "--", "nft", "-f", "-"], input_text=_nft_loss(ifname, loss_pct))
        return "nftables"

    @staticmethod
    def _clear(ns: str, ifname: str) -> None:
        run(["nsenter", ns, "--", "tc", "qdisc", "del", "dev", ifname, "root"], check=False)
        run(["nsenter", ns, "--", "nft", "delete", "table", "netdev",
             f"{NFT_TABLE}_{ifname}"], check=False)


def _nft_loss(ifname: str, loss_pct: float) -> str:
    threshold = round(loss_pct * 100)  # in 1/10000
    rule = ("counter drop" if threshold >= 10000
            else f"numgen random mod 10000 < {threshold} counter drop")
    return (f"table netdev {NFT_TABLE}_{ifname} {{\n"
            f"  chain ingress {{ type filter hook ingress device \"{ifname}\" priority 0; "
            f"{rule}; }}\n"
            f"  chain egress {{ type filter hook egress device \"{ifname}\" priority 0; "
            f"{rule}; }}\n"
            f"}}\n")
