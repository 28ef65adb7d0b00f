"""Load a cluster configuration from TOML into the typed model, validating as we go.

Structural checks (types, required keys, unknown keys) happen while reading;
cross-references (node ids, networks, fence devices, addresses) are checked by
`tandem.config.validate` once the whole model exists.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tandem.config.errors import ConfigError
from tandem.config.model import (
    DEFAULT_IPMI_PORT,
    DEFAULT_PORT,
    IPMI_OPTIONS,
    IPMI_SESSION_MODES,
    BmcDef,
    ClusterConfig,
    FenceDeviceDef,
    FenceLevel,
    LabClient,
    LabDef,
    LabDisk,
    NetworkDef,
    NodeDef,
    NodeInterface,
    TimingDef,
)
from tandem.config.reader import Section
from tandem.config.sections import SECTION_MODULES, adds_votes, read_sections
from tandem.config.services import check_services, read_services
from tandem.config.validate import validate

NAME_RE = r"[A-Za-z][A-Za-z0-9_-]{0,31}"
IFNAME_RE = r"[A-Za-z][A-Za-z0-9_.-]{0,14}"
# The engine's own sections; the domains' come from tandem.config.sections.
TOP_LEVEL = ("cluster", "timing", "networks", "nodes", "fence_devices", "services", "lab")


def load_config(path: str | Path) -> ClusterConfig:
    """Read and validate the file at `path`; ConfigError on any problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from None
    return parse_config(text, file)


def parse_config(text: str, file: str = "<string>") -> ClusterConfig:
    """Parse TOML text into a validated ClusterConfig."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    top = Section(data, file)
    top.only(*TOP_LEVEL, *SECTION_MODULES)
    config = _read_cluster(top, file)
    validate(config)
    if config.services:
        check_services(config)
    return config


def _read_cluster(top: Section, file: str) -> ClusterConfig:
    cluster = top.table("cluster", required=True)
    assert cluster is not None
    cluster.only("name", "key_file", "config_version", "port", "two_node",
                 "wait_for_all", "expected_votes")
    nodes = tuple(_read_node(s) for s in top.tables("nodes"))
    if not nodes:
        raise top.fail("nodes", "at least one [[nodes]] entry is required")
    sections = read_sections(top)
    # Two nodes without a quorum disk: one alone is quorate (fencing settles the race).
    two_node = cluster.boolean("two_node", len(nodes) == 2 and not adds_votes(sections))
    return ClusterConfig(
        name=cluster.req_string("name", pattern=NAME_RE),
        key_file=cluster.req_string("key_file"),
        source=file,
        config_version=cluster.integer("config_version", 1, minimum=1),
        port=cluster.integer("port", DEFAULT_PORT, minimum=1, maximum=65535),
        two_node=two_node,
        wait_for_all=cluster.boolean("wait_for_all", two_node),
        expected_votes=cluster.integer("expected_votes", 0, minimum=0),
        timing=_read_timing(top.table("timing")),
        networks=_read_networks(top.table("networks")),
        nodes=nodes,
        fence_devices=_read_fence_devices(top.table("fence_devices")),
        services=read_services(top),
        sections=sections,
        lab=_read_lab(top.table("lab")),
    )


def _read_timing(sec: Section | None) -> TimingDef:
    if sec is None:
        return TimingDef()
    sec.only("heartbeat_ms", "token_ms", "fence_check_s")
    default = TimingDef()
    heartbeat = sec.integer("heartbeat_ms", default.heartbeat_ms, minimum=10, maximum=10_000)
    token = sec.integer("token_ms", default.token_ms, minimum=50, maximum=120_000)
    if token < 2 * heartbeat:
        raise sec.fail("token_ms", f"must be at least twice heartbeat_ms ({heartbeat}), "
                                   f"got {token}")
    return TimingDef(heartbeat_ms=heartbeat, token_ms=token,
                     fence_check_s=sec.number("fence_check_s", default.fence_check_s,
                                              minimum=1.0))


def _check_ipmi_options(options: Section | None, given: dict[str, str]) -> None:
    """An unknown ipmi option would only show when a node must be fenced: refuse it now."""
    if options is None:
        return
    for key, value in given.items():
        if key not in IPMI_OPTIONS:
            raise options.fail(key, f"not an ipmi option (known: {', '.join(IPMI_OPTIONS)})")
        if key == "session" and value not in IPMI_SESSION_MODES:
            raise options.fail(key, f"expected {' or '.join(IPMI_SESSION_MODES)}, "
                                    f"got {value!r}")


def _read_networks(sec: Section | None) -> tuple[NetworkDef, ...]:
    if sec is None:
        return ()
    nets = []
    for name, net in sec.named_tables():
        if not _matches(name, NAME_RE):
            raise sec.fail(name, f"network name must match {NAME_RE}")
        net.only("ring")
        ring = net.integer("ring", -1, minimum=0, maximum=7)
        nets.append(NetworkDef(name=name, ring=None if ring < 0 else ring))
    return tuple(nets)


def _read_node(sec: Section) -> NodeDef:
    sec.only("name", "id", "votes", "networks", "bmc", "fence")
    interfaces = read_interfaces(sec.table("networks"))
    levels = []
    for level in sec.tables("fence"):
        level.only("devices", "delay_ms")
        devices = level.strings("devices")
        if not devices:
            raise level.fail("devices", "expected a non-empty array of fence device names")
        delay = level.integer("delay_ms", -1, minimum=0)
        levels.append(FenceLevel(devices=tuple(devices), delay_ms=None if delay < 0 else delay))
    return NodeDef(
        name=sec.req_string("name", pattern=NAME_RE),
        id=sec.req_integer("id", minimum=1, maximum=255),
        votes=sec.integer("votes", 1, minimum=0, maximum=255),
        interfaces=interfaces,
        bmc=read_bmc(sec.table("bmc")),
        fence=tuple(levels),
    )


def read_interfaces(nets: Section | None) -> tuple[NodeInterface, ...]:
    """A node's `networks` table (network -> { interface, address }); the inventory
    describes nodes in the same shapes."""
    interfaces = []
    for net_name, itf in nets.named_tables() if nets is not None else ():
        itf.only("interface", "address")
        interfaces.append(NodeInterface(
            network=net_name,
            interface=itf.req_string("interface", pattern=IFNAME_RE),
            address=itf.interface_address("address"),
        ))
    return tuple(interfaces)


def read_bmc(sec: Section | None) -> BmcDef | None:
    """A node's `bmc` table, if it has one."""
    if sec is None:
        return None
    sec.only("address", "port", "user", "password", "password_file")
    bmc = BmcDef(
        address=sec.ip_address("address"),
        port=sec.integer("port", DEFAULT_IPMI_PORT, minimum=1, maximum=65535),
        user=sec.string("user", "admin") or "admin",
        password=sec.string("password"),
        password_file=sec.string("password_file"),
    )
    if bmc.password is None and bmc.password_file is None:
        raise sec.fail(None, "needs either password or password_file")
    return bmc


def _read_fence_devices(sec: Section | None) -> tuple[FenceDeviceDef, ...]:
    if sec is None:
        return ()
    devices = []
    for name, dev in sec.named_tables():
        if not _matches(name, NAME_RE):
            raise sec.fail(name, f"fence device name must match {NAME_RE}")
        dev.only("type", "agent", "options", "address", "port", "user", "password",
                 "password_file", "delay_ms", "timeout_s")
        kind = dev.req_string("type")
        if kind not in ("ipmi", "external", "manual"):
            raise dev.fail("type", f"expected one of ipmi, external, manual; got {kind!r}")
        agent = dev.string("agent")
        if kind == "external" and not agent:
            raise dev.fail("agent", "an external fence device needs agent = \"fence_...\"")
        options = dev.table("options")
        opts: list[tuple[str, str]] = []
        for key, value in (options.data.items() if options else []):
            if not isinstance(value, (str, int, bool)):
                raise options.fail(key, "expected a string, integer or boolean")  # type: ignore[union-attr]
            opts.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
        if kind == "ipmi":
            _check_ipmi_options(options, dict(opts))
        devices.append(FenceDeviceDef(
            name=name, type=kind,  # type: ignore[arg-type]
            agent=agent, options=tuple(opts),
            address=dev.string("address"), port=dev.integer("port", 0, minimum=0) or None,
            user=dev.string("user"), password=dev.string("password"),
            password_file=dev.string("password_file"),
            delay_ms=dev.integer("delay_ms", 0, minimum=0),
            timeout_s=dev.number("timeout_s", 20.0, minimum=0.1),
        ))
    return tuple(devices)


def _read_lab(sec: Section | None) -> LabDef | None:
    if sec is None:
        return None
    sec.only("disks", "private_dirs", "client")
    disks = []
    for disk in sec.tables("disks"):
        disk.only("name", "size", "format", "storage")
        fmt = disk.string("format", "ext4") or "ext4"
        if fmt not in ("ext4", "ext4-mmp", "xfs", "none"):
            raise disk.fail("format", f"expected ext4, ext4-mmp, xfs or none; got {fmt!r}")
        storage = disk.string("storage", "loop") or "loop"
        if storage not in ("loop", "san"):
            raise disk.fail("storage", f"expected loop or san; got {storage!r}")
        disks.append(LabDisk(name=disk.req_string("name", pattern=NAME_RE),
                             size_bytes=disk.size("size"), format=fmt,  # type: ignore[arg-type]
                             storage=storage))  # type: ignore[arg-type]
    private_dirs = sec.strings("private_dirs")
    for i, path in enumerate(private_dirs):
        if not path.startswith("/") or path.rstrip("/") in ("", "/proc", "/sys", "/dev"):
            raise sec.fail(f"private_dirs[{i}]", f"expected an absolute directory path "
                                                 f"other than /, /proc, /sys, /dev; got {path!r}")
    client = None
    client_sec = sec.table("client")
    if client_sec is not None:
        client_sec.only("network", "address")
        client = LabClient(network=client_sec.req_string("network"),
                           address=client_sec.interface_address("address"))
    return LabDef(disks=tuple(disks), private_dirs=tuple(private_dirs), client=client)


def _matches(value: str, pattern: str) -> bool:
    return re.fullmatch(pattern, value) is not None
