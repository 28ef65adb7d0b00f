"""What every resource agent is: declared parameters, OCF-style results, async actions.

An agent declares its parameters, actions and default timeouts as data; validation,
`tandem agent info` and the documentation come from that declaration. Results use the
OCF exit codes so that OCF agents and LSB scripts plug in without translation tables
scattered around the engine.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Literal

from tandem.common.errors import TandemError

ParamType = Literal["string", "integer", "float", "boolean", "list", "table"]


class OcfCode(IntEnum):
    """OCF resource agent exit codes (the engine's common language for results)."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7


@dataclass(frozen=True)
class AgentResult:
    """The outcome of one agent action."""

    code: OcfCode
    message: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.code == OcfCode.SUCCESS

    @property
    def running(self) -> bool:
        """For status/monitor: the resource is active and healthy."""
        return self.code == OcfCode.SUCCESS

    @property
    def stopped(self) -> bool:
        """For status/monitor: the resource is cleanly not running."""
        return self.code == OcfCode.NOT_RUNNING


def success(message: str = "") -> AgentResult:
    return AgentResult(OcfCode.SUCCESS, message)


def not_running(message: str = "") -> AgentResult:
    return AgentResult(OcfCode.NOT_RUNNING, message)


def failure(message: str, code: OcfCode = OcfCode.ERR_GENERIC) -> AgentResult:
    return AgentResult(code, message)


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of an agent."""

    name: str
    type: ParamType = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timeouts:
    """Default action timeouts in seconds (a resource's config may override them)."""

    start: float = 20.0
    stop: float = 20.0
    status: float = 10.0
    monitor: float = 20.0


class ParamError(TandemError, ValueError):
    """A resource's parameters do not fit its agent; names the resource and parameter."""

    def __init__(self, resource: str, param: str, problem: str) -> None:
        self.resource = resource
        self.param = param
        self.problem = problem
        super().__init__(f"resource {resource}: {param}: {problem}")


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "float": (int, float), "boolean": (bool,),
    "list": (list,), "table": (dict,),
}


def check_params(resource: str, specs: tuple[ParamSpec, ...],
                 given: Mapping[str, Any]) -> dict[str, Any]:
    """Typed parameter values with defaults applied; ParamError on any misfit."""
    known = {spec.name: spec for spec in specs}
    for key in given:
        if key not in known:
            raise ParamError(resource, key, f"unknown parameter (this agent takes: "
                                            f"{', '.join(sorted(known)) or 'none'})")
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in given:
            if spec.required:
                raise ParamError(resource, spec.name, "is required")
            values[spec.name] = spec.default
            continue
        value = given[spec.name]
        kinds = _PY_TYPES[spec.type]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ParamError(resource, spec.name,
                             f"expected {spec.type}, got {type(value).__name__} ({value!r})")
        if spec.choices and value not in spec.choices:
            raise ParamError(resource, spec.name,
                             f"expected one of {', '.join(spec.choices)}, got {value!r}")
        values[spec.name] = value
    return values


@dataclass
class ResourceAgent(ABC):
    """Base of all agents: subclasses declare `name`, `summary`, `params`, `timeouts`
    and implement the actions. Instances are bound to one configured resource."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    timeouts: ClassVar[Timeouts] = Timeouts()

    resource: str
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, resource: str, given: Mapping[str, Any]) -> ResourceAgent:
        """Bind the agent to a resource; ParamError if the parameters do not fit."""
        agent = cls(resource, check_params(resource, cls.params, given))
        agent.validate()
        return agent

    def validate(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Semantic checks beyond types (raise ParamError); cheap, no side effects."""

    @abstractmethod
    async def start(self) -> AgentResult:
        """Bring the resource up; idempotent (already running is success)."""

    @abstractmethod
    async def stop(self) -> AgentResult:
        """Take the resource down; idempotent (already stopped is success)."""

    @abstractmethod
    async def status(self) -> AgentResult:
        """Cheap check: SUCCESS running, NOT_RUNNING stopped, anything else failed."""

    async def monitor(self) -> AgentResult:
        """Deeper health check; defaults to status."""
        return await self.status()

    def devices(self) -> tuple[str, ...]:
        """The block devices this resource stands on (paths): a back-end I/O error on
        one of them, or on a device under it, fails the service for relocation."""
        return ()


async def timed(action: str, agent: ResourceAgent, timeout_s: float | None = None) -> AgentResult:
    """Run one action with its timeout; a timeout is a failure with a clear message
    (any helper process of the agent is killed by tandem.util.procrun on cancel)."""
    import asyncio

    limit = timeout_s if timeout_s is not None else getattr(agent.timeouts, action)
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(getattr(agent, action)(), limit)
    except TimeoutError:
        result = failure(f"{action} of {agent.resource} ({agent.name}) timed out after "
                         f"{limit:g} s")
    return AgentResult(result.code, result.message, time.monotonic() - started)
