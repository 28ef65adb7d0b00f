"""rgmanager resources as tandem resources: `ip`, `fs` and `script`.

- `ip address` -> `ip` with `address` and `interface`: cluster.conf gives the address
  alone (rgmanager found the interface whose subnet holds it), so the prefix and the
  interface come from the network of the nodes' addresses that holds it;
- `fs device mountpoint fstype options force_fsck force_unmount` -> `fs` with
  `device`, `mountpoint`, `fstype`, `options`, `fsck`, `force_unmount`;
- `script file` -> `script` with `path`.

A resource used through `ref` takes its attributes from the `<rm><resources>` entry it
names (the using element's own attributes first).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from tandem.config.importers.names import dotted_name, unique
from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.rhcs_nodes import NodePlan
from tandem.config.importers.xmldoc import Element
from tandem.config.model import ResourceDef

SUBTREE_ATTRS = ("__independent_subtree", "__enforce_timeouts", "__max_restarts",
                 "__restart_expire_time", "__max_failures", "__failure_expire_time")
NAME_LIMIT = 48


@dataclass
class Resource:
    """A resource of a service's tree: the element that uses it, the `<resources>`
    entry it refers to (if any), and how deep it was nested."""

    use: Element
    definition: Element | None
    depth: int

    @property
    def tag(self) -> str:
        return self.use.tag

    def holder(self, attr: str) -> Element:
        """The element that gives `attr` (the using one when neither does)."""
        if attr not in self.use.attrs and self.definition is not None \
                and attr in self.definition.attrs:
            return self.definition
        return self.use

    def value(self, attr: str) -> str | None:
        return self.holder(attr).attrs.get(attr)

    def take(self, attr: str) -> str | None:
        return self.holder(attr).take(attr)


def carried_resource(ctx: Context, res: Resource, plans: list[NodePlan], where: str,
                     taken: set[str]) -> ResourceDef | None:
    """The tandem resource for `res`, or None (with a note) for a type tandem has no
    agent for. `where` is its place in the written file (`services[0].resources[1]`),
    `taken` the names its service already uses."""
    if res.definition is not None:
        res.definition.seen = True
    makers = {"ip": _ip, "fs": _fs, "script": _script}
    maker = makers.get(res.tag)
    if maker is None:
        for element in (res.use, res.definition):
            if element is not None:
                element.used.update(element.attrs)
        ctx.book.note(res.use, f"not carried over: tandem has no {res.tag} agent")
        return None
    for attr in SUBTREE_ATTRS:
        ctx.book.drop(res.holder(attr), attr, "tandem restarts or relocates a service as "
                                              "a whole")
    default, agent, params = maker(ctx, res, plans, f"{where}.params")
    return ResourceDef(name=_name(ctx, res, default, taken), agent=agent, params=params)


def _name(ctx: Context, res: Resource, default: str, taken: set[str]) -> str:
    given = res.take("name")
    name = unique(dotted_name(given or default), taken, NAME_LIMIT)
    if given is not None and name != given:
        ctx.book.note(res.holder("name"), f"resource {given} is called {name} in tandem")
    return name


def _required(ctx: Context, res: Resource, attr: str) -> str:
    value = (res.take(attr) or "").strip()
    if not value:
        raise ctx.book.fail(res.use, f"<{res.tag}> needs {attr}")
    return value


def _ip(ctx: Context, res: Resource, plans: list[NodePlan],
        where: str) -> tuple[str, str, dict[str, Any]]:
    text = _required(ctx, res, "address")
    link = res.holder("monitor_link")
    if not ctx.book.flag(link, "monitor_link", True):
        ctx.book.note(link, "monitor_link=0 not carried over: tandem's ip monitor always "
                            "checks the link")
    for attr, why in (("sleeptime", "tandem announces the move at once"),
                      ("nfslock", "tandem has no NFS lock recovery of its own")):
        ctx.book.drop(res.holder(attr), attr, why)
    res.take("family")
    address, interface = _place_address(ctx, res.use, text, plans, where)
    ip = text.split("/", 1)[0]
    return f"ip-{ip}", "ip", {"address": address, "interface": interface}


def _place_address(ctx: Context, use: Element, text: str, plans: list[NodePlan],
                   where: str) -> tuple[str, str]:
    """(address/prefix, interface) for a service address, from the network of the
    nodes' addresses that holds it."""
    try:
        given = ipaddress.ip_interface(text)
    except ValueError:
        raise ctx.book.fail(use, f'address="{text}" is not an IP address') from None
    for network in dict.fromkeys(i.network for p in plans for i in p.interfaces):
        itfs = [i for p in plans for i in p.interfaces if i.network == network]
        subnet = itfs[0].address.network
        if given.ip not in subnet:
            continue
        names = list(dict.fromkeys(i.interface for i in itfs))
        if len(names) > 1 or len(itfs) < len(plans):
            ctx.book.note(use, f"the nodes do not all have {names[0]} on {network}: the "
                               f"address goes on {names[0]} wherever the service runs")
        prefix = given.network.prefixlen if "/" in text else subnet.prefixlen
        return f"{given.ip}/{prefix}", names[0]
    keys = [f"{where}.address", f"{where}.interface"]
    ctx.book.note(use, f"{given.ip} is on none of the nodes' networks: fill in "
                       f"{' and '.join(keys)} (or give the nodes' addresses on its network "
                       f"with --address)")
    return ctx.fill_in(keys[0]), ctx.fill_in(keys[1])


def _fs(ctx: Context, res: Resource, plans: list[NodePlan],
        where: str) -> tuple[str, str, dict[str, Any]]:
    params: dict[str, Any] = {"device": _required(ctx, res, "device"),
                              "mountpoint": _required(ctx, res, "mountpoint")}
    for attr in ("fstype", "options"):
        value = (res.take(attr) or "").strip()
        if value:
            params[attr] = value
    if ctx.book.flag(res.holder("force_fsck"), "force_fsck", False):
        params["fsck"] = True
    if res.value("force_unmount") is not None:
        params["force_unmount"] = ctx.book.flag(res.holder("force_unmount"),
                                                "force_unmount", False)
    for attr, why in (("self_fence", "a failed stop gets the node fenced anyway"),
                      ("fsid", "tandem's fs agent does not export NFS"),
                      ("nfslock", "tandem has no NFS lock recovery of its own")):
        ctx.book.drop(res.holder(attr), attr, why)
    base = params["mountpoint"].rstrip("/").rsplit("/", 1)[-1] or "root"
    return f"fs-{base}", "fs", params


def _script(ctx: Context, res: Resource, plans: list[NodePlan],
            where: str) -> tuple[str, str, dict[str, Any]]:
    path = _required(ctx, res, "file")
    base = path.rstrip("/").rsplit("/", 1)[-1] or "script"
    return f"script-{base}", "script", {"path": path}
