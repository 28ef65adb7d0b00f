"""Reading and checking the `[[services]]` part of a cluster configuration.

Resource parameters are checked against the agent's own declaration at load time, so
a typo in a parameter is found by `tandem config check`, not at failover time.
"""

from __future__ import annotations

from tandem.config.errors import ConfigError
from tandem.config.model import RECOVERIES, ClusterConfig, DomainDef, ResourceDef, ServiceDef
from tandem.config.reader import Section

NAME_RE = r"[A-Za-z][A-Za-z0-9_.-]{0,47}"
ACTIONS = ("start", "stop", "status", "monitor")


def read_services(top: Section) -> tuple[ServiceDef, ...]:
    """Every [[services]] entry, structurally checked."""
    return tuple(_read_service(sec) for sec in top.tables("services"))


def _read_service(sec: Section) -> ServiceDef:
    sec.only("name", "autostart", "recovery", "max_restarts", "restart_window_s",
             "domain", "resources")
    recovery = sec.string("recovery", "restart") or "restart"
    if recovery not in RECOVERIES:
        raise sec.fail("recovery", f"expected {', '.join(RECOVERIES[:-1])} or "
                                   f"{RECOVERIES[-1]}; got {recovery!r}")
    resources = tuple(_read_resource(r) for r in sec.tables("resources"))
    if not resources:
        raise sec.fail("resources", "a service needs at least one [[services.resources]]")
    return ServiceDef(
        name=sec.req_string("name", pattern=NAME_RE),
        resources=resources,
        domain=_read_domain(sec.table("domain")),
        autostart=sec.boolean("autostart", True),
        recovery=recovery,  # type: ignore[arg-type]
        max_restarts=sec.integer("max_restarts", 3, minimum=0, maximum=1000),
        restart_window_s=sec.number("restart_window_s", 300.0, minimum=1.0),
    )


def _read_domain(sec: Section | None) -> DomainDef:
    if sec is None:
        return DomainDef()
    sec.only("nodes", "restricted", "failback", "failback_delay_s")
    raw = sec.data.get("nodes", [])
    if not isinstance(raw, list):
        raise sec.fail("nodes", "expected an array of node names (in order of preference) "
                                "or of { name, priority } tables")
    nodes: list[tuple[str, int]] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            nodes.append((item, i + 1))
        elif isinstance(item, dict):
            entry = Section(item, sec.file, f"{sec.where('nodes')}[{i}]")
            entry.only("name", "priority")
            nodes.append((entry.req_string("name"),
                          entry.integer("priority", i + 1, minimum=1, maximum=1000)))
        else:
            raise sec.fail(f"nodes[{i}]", "expected a node name or { name, priority }")
    return DomainDef(nodes=tuple(nodes), restricted=sec.boolean("restricted", False),
                     failback=sec.boolean("failback", False),
                     failback_delay_s=sec.number("failback_delay_s", 0.0))


def _read_resource(sec: Section) -> ResourceDef:
    sec.only("name", "agent", "params", "monitor_interval_s", "timeouts")
    params = sec.table("params")
    timeouts = sec.table("timeouts")
    timeout_values: dict[str, float] = {}
    if timeouts is not None:
        timeouts.only(*ACTIONS)
        timeout_values = {a: timeouts.number(a, 0.0, minimum=0.1) for a in ACTIONS
                          if a in timeouts.data}
    return ResourceDef(
        name=sec.req_string("name", pattern=NAME_RE),
        agent=sec.req_string("agent"),
        params=dict(params.data) if params else {},
        monitor_interval_s=sec.number("monitor_interval_s", 10.0, minimum=0.0),
        timeouts=timeout_values,
    )


def check_services(config: ClusterConfig) -> None:
    """Cross-checks: unique names, domains name real nodes, agents exist and accept
    the parameters given."""
    from tandem.resources.base import ParamError
    from tandem.resources.registry import get_agent

    nodes = {n.name for n in config.nodes}
    seen: set[str] = set()
    for i, svc in enumerate(config.services):
        where = f"services[{i}] ({svc.name})"
        if svc.name in seen:
            raise ConfigError(config.source, "services", f"service name {svc.name!r} is "
                                                         f"used twice")
        seen.add(svc.name)
        for node, _ in svc.domain.nodes:
            if node not in nodes:
                raise ConfigError(config.source, f"{where}.domain.nodes",
                                  f"unknown node {node!r} (known: {', '.join(sorted(nodes))})")
        if svc.domain.restricted and not svc.domain.nodes:
            raise ConfigError(config.source, f"{where}.domain",
                              "a restricted domain needs at least one node")
        _check_fence_policy(config, svc, where)
        names: set[str] = set()
        for j, res in enumerate(svc.resources):
            rwhere = f"{where}.resources[{j}] ({res.name})"
            if res.name in names:
                raise ConfigError(config.source, rwhere, "resource name used twice in "
                                                         "this service")
            names.add(res.name)
            try:
                agent = get_agent(res.agent)
            except KeyError as exc:
                raise ConfigError(config.source, f"{rwhere}.agent",
                                  str(exc.args[0] if exc.args else exc)) from None
            try:
                agent.create(res.name, dict(res.params))
            except ParamError as exc:
                raise ConfigError(config.source, f"{rwhere}.params.{exc.param}",
                                  exc.problem) from None


def _check_fence_policy(config: ClusterConfig, svc: ServiceDef, where: str) -> None:
    """`recovery = "fence"` powers the failing node off: every node the service may run
    on needs fence levels."""
    if svc.recovery != "fence":
        return
    allowed = {n for n, _ in svc.domain.nodes} if svc.domain.restricted else None
    unfenced = sorted(n.name for n in config.nodes
                      if not n.fence and (allowed is None or n.name in allowed))
    if unfenced:
        raise ConfigError(config.source, f"{where}.recovery",
                          f"recovery = \"fence\" powers a failing node off, but "
                          f"{', '.join(unfenced)} has no fence levels")
