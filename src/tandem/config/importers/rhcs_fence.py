"""cluster.conf's fencing: `<fencedevices>` and each node's `<fence><method>` list.

A method becomes a fence level (its devices must all succeed, in order), methods keep
their order. Per-node `<device>` attributes override the `<fencedevice>`'s, as in
fenced. By agent:

- `fence_ipmilan` -> an `ipmi` device; the node's BMC (`ipaddr`, `login`, `ipport`)
  goes to its `bmc` table, so one device serves every node;
- `fence_manual` -> a `manual` device (an operator confirms with `tandem fence ack`);
- any other agent -> an `external` device running that agent: `ipaddr`, `login`,
  `ipport` become its address, user and port, every other attribute an option on the
  agent's stdin. A `<device>` with attributes of its own (a PDU port, say) gets a
  device of its own, `DEVICE-NODE`.

Passwords are never written: `passwd` becomes a `password_file` under the secrets
directory for the operator to fill, and a note says which. `delay` on a `<device>`
becomes the level's delay; on a `<fencedevice>`, the device's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.config.importers.addresses import usable_address
from tandem.config.importers.names import plain_name, unique
from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.rhcs_nodes import NodePlan
from tandem.config.importers.xmldoc import Element
from tandem.config.model import BmcDef, FenceDeviceDef, FenceLevel, FenceType

IPMI_AGENTS = ("fence_ipmilan",)
MANUAL_AGENTS = ("fence_manual",)
# Attribute names holding secrets besides `passwd`: never written, never shown.
SECRET_MARKS = ("passw", "community")
IPMI_KEPT = ("ipaddr", "login", "ipport", "udpport")
RENAMED = {"ipaddr": "address", "login": "user", "ipport": "port", "udpport": "port"}


@dataclass
class Attrs:
    """What one element says about a fence device, sorted out."""

    settings: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    delay_ms: int | None = None
    passwd: bool = False
    passwd_script: str | None = None


@dataclass
class Source:
    """One `<fencedevice>`."""

    element: Element
    xml_name: str
    name: str
    agent: str
    kind: FenceType
    attrs: Attrs
    used: bool = False


@dataclass
class Fencing:
    """The result: devices in the order first used, and each node's BMC and levels."""

    devices: dict[str, FenceDeviceDef] = field(default_factory=dict)
    bmcs: dict[str, BmcDef] = field(default_factory=dict)
    levels: dict[str, tuple[FenceLevel, ...]] = field(default_factory=dict)


def import_fencing(ctx: Context, root: Element, plans: list[NodePlan]) -> Fencing:
    """Devices, BMCs and levels for every node."""
    container = root.child("fencedevices")
    importer = _FenceImport(ctx, _read_sources(ctx, container))
    for plan in plans:
        levels = []
        fence = plan.element.child("fence")
        for method in fence.all("method") if fence is not None else []:
            level = importer.level(method, plan)
            if level is not None:
                levels.append(level)
        importer.result.levels[plan.name] = tuple(levels)
        for unfence in plan.element.all("unfence"):
            ctx.book.drop_element(unfence, "tandem does not unfence (it powers nodes "
                                           "off, and leaves them off)")
    for source in importer.sources.values():
        if not source.used:
            ctx.book.note(source.element, "not carried over: no node uses this device")
    if importer.reboots and container is not None:
        ctx.book.note(container, "tandem powers a fenced node off and leaves it off, where "
                                 "these devices rebooted it: power it on once repaired")
    return importer.result


def _read_sources(ctx: Context, container: Element | None) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    taken: set[str] = set()
    for element in container.all("fencedevice") if container is not None else []:
        xml_name = element.take("name")
        agent = (element.take("agent") or "").strip().rsplit("/", 1)[-1]
        if not xml_name or not agent:
            raise ctx.book.fail(element, "a fencedevice needs a name and an agent")
        if xml_name in sources:
            raise ctx.book.fail(element, f"fencedevice {xml_name} is defined twice")
        agent = agent if agent.startswith("fence_") else f"fence_{agent}"
        kind: FenceType = ("ipmi" if agent in IPMI_AGENTS else
                           "manual" if agent in MANUAL_AGENTS else "external")
        name = unique(plain_name(xml_name, "fence"), taken)
        if name != xml_name:
            ctx.book.note(element, f"device {xml_name} is called {name} in tandem")
        if kind == "ipmi" and "lanplus" not in element.attrs:
            ctx.book.note(element, "no lanplus: tandem speaks IPMI v2.0 (lanplus) to a "
                                   "BMC, check that it accepts it")
        sources[xml_name] = Source(element, xml_name, name, agent, kind,
                                   _attrs(ctx, element, kind))
    return sources


def _attrs(ctx: Context, element: Element, kind: FenceType) -> Attrs:
    """Sort out the attributes of a `<fencedevice>` or `<device>` (its name apart)."""
    attrs = Attrs()
    for attr in list(element.unused()):
        if attr == "name":
            continue
        value = element.take(attr) or ""
        if attr == "action":
            attrs.action = value.strip().lower()
        elif attr == "delay":
            attrs.delay_ms = ctx.book.seconds(element, attr)
        elif attr == "passwd":
            attrs.passwd = True
        elif attr == "passwd_script":
            attrs.passwd_script = value
        elif any(mark in attr.lower() for mark in SECRET_MARKS):
            ctx.book.note(element, f"{attr} not carried over: secrets are never written; "
                                   f"give it to the agent another way")
        elif kind == "external" or (kind == "ipmi" and attr in IPMI_KEPT):
            attrs.settings[attr] = value
        else:
            _other(ctx, element, kind, attr, value)
    return attrs


def _other(ctx: Context, element: Element, kind: FenceType, attr: str, value: str) -> None:
    """An attribute that tandem's ipmi or manual device has no use for."""
    if kind == "ipmi" and attr == "lanplus":
        if value.strip().lower() not in ("1", "on", "yes", "true"):
            ctx.book.note(element, f'lanplus="{value}" not carried over: tandem always '
                                   f"speaks IPMI v2.0 (lanplus) to a BMC")
    elif not (kind == "manual" and attr == "nodename"):
        ctx.book.note(element, f'{attr}="{value}" not carried over: tandem\'s {kind} '
                               f"device has no such setting")


@dataclass
class Ref:
    """One `<device>` of a node's method: the element, the node, the device it names
    and its own attributes."""

    element: Element
    plan: NodePlan
    source: Source
    attrs: Attrs

    @property
    def merged(self) -> dict[str, str]:
        """The device's settings, the node's own winning (as in fenced)."""
        return {**self.source.attrs.settings, **self.attrs.settings}

    @property
    def own(self) -> bool:
        """Does the node's `<device>` say something of its own about the device?"""
        return bool(self.attrs.settings) or self.attrs.passwd \
            or self.attrs.passwd_script is not None


class _FenceImport:
    """Turns each node's methods into levels, creating devices on first use."""

    def __init__(self, ctx: Context, sources: dict[str, Source]) -> None:
        self.ctx = ctx
        self.sources = sources
        self.result = Fencing()
        self.reboots = False

    def level(self, method: Element, plan: NodePlan) -> FenceLevel | None:
        """One method as a level (None when nothing of it could be carried over)."""
        method.take("name")
        devices: list[str] = []
        delays: list[int] = []
        for element in method.all("device"):
            ref = self._ref(element, plan)
            name = self._use(ref)
            if name is not None and name not in devices:
                devices.append(name)
            if ref.attrs.delay_ms is not None:
                delays.append(ref.attrs.delay_ms)
        if not devices:
            self.ctx.book.note(method, "not carried over: none of its devices could be")
            return None
        return FenceLevel(tuple(devices), max(delays) if delays else None)

    def _ref(self, element: Element, plan: NodePlan) -> Ref:
        xml_name = element.take("name")
        source = self.sources.get(xml_name or "")
        if source is None:
            raise self.ctx.book.fail(element, f"no fencedevice named {xml_name!r}")
        source.used = True
        ref = Ref(element, plan, source, _attrs(self.ctx, element, source.kind))
        action = ref.attrs.action or source.attrs.action or "reboot"
        self.reboots = self.reboots or action == "reboot"
        if action not in ("reboot", "off"):
            self.ctx.book.note(element, f'action="{action}" not carried over: tandem '
                                        f"powers off")
        return ref

    def _use(self, ref: Ref) -> str | None:
        """The tandem device that `ref` stands for (created on first use)."""
        source, devices = ref.source, self.result.devices
        if source.kind == "manual":
            devices.setdefault(source.name, FenceDeviceDef(source.name, "manual"))
            return source.name
        if source.kind == "ipmi":
            return self._use_bmc(ref)
        name = plain_name(f"{source.name}-{ref.plan.name}") if ref.own else source.name
        if name not in devices:
            devices[name] = self._external(ref, name)
        return name

    def _external(self, ref: Ref, name: str) -> FenceDeviceDef:
        merged = ref.merged
        fields: dict[str, str] = {}
        for attr in [a for a in merged if a in RENAMED]:
            fields[RENAMED[attr]] = merged.pop(attr)
        port = fields.get("port")
        where = ref.element if ref.own else ref.source.element
        if port is not None and not port.strip().isdigit():
            raise self.ctx.book.fail(where, f'ipport="{port}" is not a port number')
        stem = name if ref.attrs.passwd or ref.attrs.passwd_script else ref.source.name
        secret = self._password(ref, stem, f"the password of device {stem}")
        return FenceDeviceDef(
            name=name, type="external", agent=ref.source.agent,
            options=tuple(merged.items()), address=fields.get("address"),
            port=int(port) if port else None, user=fields.get("user"),
            password_file=secret, delay_ms=ref.source.attrs.delay_ms or 0)

    def _use_bmc(self, ref: Ref) -> str | None:
        plan, source, merged = ref.plan, ref.source, ref.merged
        port_text = merged.get("ipport") or merged.get("udpport") or "623"
        if not port_text.strip().isdigit():
            raise self.ctx.book.fail(ref.element, f'ipport="{port_text}" is not a port '
                                                  f"number")
        user = merged.get("login")
        if not user:
            self.ctx.book.note(ref.element, f"no login for {plan.name}'s BMC: tandem logs "
                                            f"in as admin")
        bmc = BmcDef(address=self._bmc_address(ref, merged.get("ipaddr")),
                     port=int(port_text), user=user or "admin",
                     password_file=self.ctx.secret_file(f"{plan.name}-bmc"))
        known = self.result.bmcs.get(plan.name)
        if known is not None and known != bmc:
            self.ctx.book.note(ref.element, f"not carried over: {plan.name} already has its "
                                            f"BMC at {known.address} (a tandem node has one "
                                            f"BMC)")
            return None
        if known is None:
            self._password(ref, f"{plan.name}-bmc", f"{plan.name}'s BMC password")
            self.result.bmcs[plan.name] = bmc
        self.result.devices.setdefault(source.name, FenceDeviceDef(
            source.name, "ipmi", delay_ms=source.attrs.delay_ms or 0))
        return source.name

    def _bmc_address(self, ref: Ref, ipaddr: str | None) -> str:
        plan = ref.plan
        if not ipaddr:
            raise self.ctx.book.fail(ref.element, f"no ipaddr for {plan.name}'s BMC (on the "
                                                  f"<device> or its <fencedevice>)")
        if usable_address(ipaddr.strip()) is not None:
            return ipaddr.strip()
        resolved = self.ctx.resolve(ref.element, f"{plan.name}'s BMC", ipaddr.strip())
        if resolved is not None:
            return resolved
        key = f"nodes[{plan.index}].bmc.address"
        self.ctx.book.note(ref.element, f"ipaddr {ipaddr} is not an IP address: fill in "
                                        f"{key} (or import again with --resolve)")
        return self.ctx.fill_in(key)

    def _password(self, ref: Ref, stem: str, what: str) -> str | None:
        """The password file to write, with a note where the password was; None when
        the device has none (an agent that needs no password)."""
        path = self.ctx.secret_file(stem)
        attrs, source = ref.attrs, ref.source
        where = ref.element if attrs.passwd or attrs.passwd_script else source.element
        script = attrs.passwd_script or source.attrs.passwd_script
        if attrs.passwd or source.attrs.passwd:
            self.ctx.book.note(where, f"passwd not written: put {what} in {path}")
        elif script is not None:
            self.ctx.book.note(where, f"passwd_script {script} not run: put its output "
                                      f"({what}) in {path}")
        elif source.kind == "ipmi":
            self.ctx.book.note(ref.element, f"no passwd: tandem reads {what} from {path}")
        else:
            return None
        return path
