"""cluster.conf's `<rm>` (rgmanager): failover domains and services.

A failover domain becomes the `domain` of each service that names it: `ordered` keeps
the priorities (lower first), an unordered domain gives every member the same one;
`restricted` is kept; an ordered domain fails back unless `nofailback`. A service keeps
its name, `autostart` and `recovery` (`restart-disable` becomes `restart`), and
`max_restarts` / `restart_expire_time` when set.

Resources: `ip`, `fs` and `script` are carried over (as tandem's `ip`, `fs` and
`script` agents, `ref`s to `<resources>` resolved); others are not, with a note. tandem
runs a service's resources as one ordered list, so the tree is flattened in the order
rgmanager starts it (tandem stops in reverse): a parent before its children, and among
the children of one parent, those of the types the parent orders by type (a service:
lvm, fs, clusterfs, netfs, nfsexport, nfsclient, ip, smb, script; a file system: fs,
clusterfs, then nfsexport) in that order, then the others in document order.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config.importers.names import dotted_name
from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.rhcs_nodes import NodePlan, node_for
from tandem.config.importers.rhcs_resources import SUBTREE_ATTRS, Resource, carried_resource
from tandem.config.importers.xmldoc import Element
from tandem.config.model import DomainDef, ResourceDef, ServiceDef

SERVICE_ORDER = {"lvm": 1, "fs": 2, "clusterfs": 3, "netfs": 4, "nfsexport": 5,
                 "nfsclient": 6, "ip": 7, "smb": 8, "script": 9}
FS_ORDER = {"fs": 1, "clusterfs": 1, "nfsexport": 3}
CHILD_ORDER = {"service": SERVICE_ORDER, "fs": FS_ORDER, "clusterfs": FS_ORDER,
               "netfs": FS_ORDER, "nfsexport": {"nfsclient": 1}}
RECOVERIES = ("restart", "relocate", "disable", "restart-disable")


@dataclass
class Domain:
    element: Element
    domain: DomainDef
    used: bool = False


def import_services(ctx: Context, root: Element,
                    plans: list[NodePlan]) -> tuple[ServiceDef, ...]:
    """Every service that has at least one resource tandem can run."""
    rm = root.child("rm")
    if rm is None:
        return ()
    for attr in rm.unused():
        ctx.book.drop(rm, attr, "tandem's service manager has no such setting")
    importer = _RmImport(ctx, _domains(ctx, rm, plans), _definitions(rm), plans)
    services: list[ServiceDef] = []
    for element in rm.all("service"):
        service = importer.service(element, len(services))
        if service is None:
            continue
        if any(s.name == service.name for s in services):
            raise ctx.book.fail(element, f"a second service called {service.name}")
        services.append(service)
    for domain in importer.domains.values():
        if not domain.used:
            ctx.book.drop_element(domain.element, "no service uses this domain")
    for definition in importer.definitions.values():
        if not definition.seen:
            ctx.book.drop_element(definition, "no service uses this resource")
    return tuple(services)


def _domains(ctx: Context, rm: Element, plans: list[NodePlan]) -> dict[str, Domain]:
    found: dict[str, Domain] = {}
    container = rm.child("failoverdomains")
    for element in container.all("failoverdomain") if container is not None else []:
        name = element.take("name")
        if not name:
            raise ctx.book.fail(element, "a failoverdomain needs a name")
        ordered = ctx.book.flag(element, "ordered", False)
        members: list[tuple[int, int, str]] = []
        for index, item in enumerate(element.all("failoverdomainnode")):
            plan = node_for(plans, item.take("name") or "")
            if plan is None:
                raise ctx.book.fail(item, f"no clusternode called {item.attrs.get('name')!r}")
            priority = ctx.book.integer(item, "priority", 1, minimum=1)
            if priority > 1000:
                raise ctx.book.fail(item, f"priority {priority}: at most 1000")
            members.append((priority if ordered else 1, index, plan.name))
        nofailback = ctx.book.flag(element, "nofailback", False)
        domain = DomainDef(nodes=tuple((n, p) for p, _, n in sorted(members)),
                           restricted=ctx.book.flag(element, "restricted", False),
                           failback=ordered and not nofailback)
        found[name] = Domain(element, domain)
    return found


def _definitions(rm: Element) -> dict[tuple[str, str], Element]:
    """The `<resources>` that services refer to, by type and primary key."""
    container = rm.child("resources")
    found: dict[tuple[str, str], Element] = {}
    for element in container.children if container is not None else []:
        key = element.attrs.get("address") if element.tag == "ip" else element.attrs.get("name")
        if key is not None:
            found[(element.tag, key)] = element
    return found


class _RmImport:
    """Turns services into tandem services, against the domains and resources."""

    def __init__(self, ctx: Context, domains: dict[str, Domain],
                 definitions: dict[tuple[str, str], Element], plans: list[NodePlan]) -> None:
        self.ctx = ctx
        self.domains = domains
        self.definitions = definitions
        self.plans = plans

    def service(self, element: Element, index: int) -> ServiceDef | None:
        """The service, written as `services[index]`; None when it has nothing tandem
        can run."""
        book = self.ctx.book
        xml_name = element.take("name")
        if not xml_name:
            raise book.fail(element, "a service needs a name")
        name = dotted_name(xml_name, "svc")
        if name != xml_name:
            book.note(element, f"service {xml_name} is called {name} in tandem")
        domain = self._domain_of(element)
        autostart = book.flag(element, "autostart", True)
        recovery = _recovery(self.ctx, element)
        max_restarts = book.integer(element, "max_restarts", 0)
        window_ms = book.seconds(element, "restart_expire_time")
        _drop_service_attrs(self.ctx, element)
        resources = self._resources(element, index)
        if not resources:
            book.note(element, "not carried over: none of its resources has a tandem agent")
            return None
        if recovery == "restart" and not max_restarts:
            book.note(element, "Cluster Suite restarted it in place without limit; tandem "
                               "relocates it after 3 restarts within 300 s (max_restarts, "
                               "restart_window_s)")
        return ServiceDef(name=name, resources=resources, domain=domain,
                          autostart=autostart, recovery=recovery,  # type: ignore[arg-type]
                          max_restarts=min(max_restarts, 1000) if max_restarts else 3,
                          restart_window_s=max(window_ms / 1000, 1.0) if window_ms
                          else 300.0)

    def _domain_of(self, element: Element) -> DomainDef:
        name = element.take("domain")
        if not name:
            return DomainDef()
        if name not in self.domains:
            raise self.ctx.book.fail(element, f"no failoverdomain called {name!r}")
        self.domains[name].used = True
        return self.domains[name].domain

    def _resources(self, service: Element, index: int) -> tuple[ResourceDef, ...]:
        """The carried resources in start order, with a note when that is not the
        file's order or the tree was nested."""
        flat: list[Resource] = []
        self._flatten(service, "service", flat, 0)
        taken: set[str] = set()
        carried: list[ResourceDef] = []
        unmounted: list[str] = []
        for resource in flat:
            where = f"services[{index}].resources[{len(carried)}]"
            made = carried_resource(self.ctx, resource, self.plans, where, taken)
            if made is not None:
                carried.append(made)
                if resource.tag == "fs" and resource.value("force_unmount") is None:
                    unmounted.append(made.name)
        uses = {id(r.use) for r in flat}
        in_file = [e for e in service.walk() if id(e) in uses]
        if carried and (any(r.depth for r in flat) or in_file != [r.use for r in flat]):
            order = ", ".join(r.name for r in carried)
            self.ctx.book.note(service, f"resources start in rgmanager's order (parents "
                                        f"first, then by type), stop in reverse: {order}")
        if unmounted:
            self.ctx.book.note(service, f"{', '.join(unmounted)}: tandem kills what keeps a "
                                        f"mount busy at stop (its fs default; Cluster "
                                        f"Suite's force_unmount was off)")
        return tuple(carried)

    def _flatten(self, parent: Element, parent_type: str, out: list[Resource],
                 depth: int) -> None:
        order = CHILD_ORDER.get(parent_type, {})
        children = [c for c in parent.children if c.tag != "action"]
        for action in parent.all("action"):
            self.ctx.book.drop_element(action, "tandem's agents declare their own "
                                               "intervals and timeouts")
        typed = sorted((c for c in children if c.tag in order), key=lambda c: order[c.tag])
        for child in typed + [c for c in children if c.tag not in order]:
            child.seen = True
            out.append(Resource(child, self._definition(child), depth))
            self._flatten(child, child.tag, out, depth + 1)

    def _definition(self, use: Element) -> Element | None:
        ref = use.take("ref")
        if ref is None:
            return None
        found = self.definitions.get((use.tag, ref))
        if found is None:
            raise self.ctx.book.fail(use, f"no <{use.tag}> {ref!r} under <rm><resources>")
        found.seen = True
        return found


def _recovery(ctx: Context, element: Element) -> str:
    recovery = (element.take("recovery") or "restart").strip()
    if recovery not in RECOVERIES:
        raise ctx.book.fail(element, f'recovery="{recovery}": expected one of '
                                     f"{', '.join(RECOVERIES)}")
    if recovery == "restart-disable":
        ctx.book.note(element, "recovery restart-disable becomes restart: when restarts "
                               "run out, tandem relocates the service instead of "
                               "disabling it")
        return "restart"
    return recovery


def _drop_service_attrs(ctx: Context, element: Element) -> None:
    book = ctx.book
    if book.flag(element, "exclusive", False):
        book.note(element, "exclusive not carried over: tandem does not keep other "
                           "services off its node")
    book.drop(element, "depend", "tandem starts services independently")
    book.drop(element, "depend_mode", "tandem starts services independently")
    book.drop(element, "nfslock", "tandem has no NFS lock recovery of its own")
    book.drop(element, "nfs_client_cache", "tandem has no NFS client cache")
    for attr in SUBTREE_ATTRS:
        book.drop(element, attr, "tandem restarts or relocates a service as a whole")
