"""Running one action of one agent in this process, as `tandem agent run` does (the way
ocf-tester or `crm_resource --force-start` drive an agent by hand), and describing
agents for `tandem agent info`.

Parameters come as KEY=VALUE words and are converted by the type the agent declares:
integers, floats, booleans (true/false, yes/no, on/off, 1/0), lists as comma-separated
words or a JSON array, tables as a JSON object or as repeated KEY.NAME=VALUE words.
Every outcome is an `AgentResult`, so the caller can exit with its OCF code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    success,
    timed,
)
from tandem.resources.registry import get_agent

ACTIONS = ("start", "stop", "status", "monitor", "validate")
# Work an action leaves running (the ip agent's repeated announcements) may finish for
# this long before a one-shot run exits.
FOLLOW_UP_LIMIT_S = 10.0
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


class ArgumentError(TandemError, ValueError):
    """A command-line word that is not KEY=VALUE."""

    exit_code = EXIT_USAGE


def parse_value(spec: ParamSpec, text: str) -> Any:
    """`text` converted to the declared type of `spec`; ValueError naming the type."""
    try:
        return _CONVERT.get(spec.type, str)(text)
    except ValueError:
        raise ValueError(f"expected {spec.type}, got {text!r}") from None


def _boolean(text: str) -> bool:
    if text.lower() not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(text)
    return text.lower() in TRUE_WORDS


def _list(text: str) -> list[Any]:
    if text.startswith("["):
        value: list[Any] = _json(text, list)
        return value
    return [word for word in text.split(",") if word]


def _json(text: str, kind: type) -> Any:
    value = json.loads(text)  # json.JSONDecodeError is a ValueError
    if not isinstance(value, kind):
        raise ValueError(text)
    return value


_CONVERT: dict[str, Callable[[str], Any]] = {
    "integer": int, "float": float, "boolean": _boolean, "list": _list,
    "table": lambda text: _json(text, dict),
}


def parse_params(agent: type[ResourceAgent], words: Sequence[str],
                 resource: str) -> dict[str, Any]:
    """Typed parameters from KEY=VALUE words. ArgumentError for a malformed word,
    ParamError for a value of the wrong type; unknown names are passed on, so that the
    agent's own check names them with the parameters it does take."""
    specs = {spec.name: spec for spec in agent.params}
    given: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise ArgumentError(f"expected KEY=VALUE, got {word!r}")
        name, dot, entry = key.partition(".")
        spec = specs.get(name)
        if spec is None:
            given[key] = text
        elif dot:
            if spec.type != "table" or not entry:
                raise ParamError(resource, key, f"{name} is a {spec.type}, not a table")
            given.setdefault(name, {})[entry] = text
        else:
            try:
                given[name] = parse_value(spec, text)
            except ValueError as exc:
                raise ParamError(resource, name, str(exc)) from None
    return given


async def run_action(agent: type[ResourceAgent], action: str, resource: str,
                     given: dict[str, Any], timeout_s: float | None = None) -> AgentResult:
    """Bind the agent and run `action` with its timeout (the agent's default unless
    `timeout_s`); `validate` only checks the parameters."""
    try:
        bound = agent.create(resource, given)
    except ParamError as exc:
        return AgentResult(OcfCode.ERR_CONFIGURED, str(exc))
    if action == "validate":
        return success("parameters are valid")
    result = await timed(action, bound, timeout_s)
    await _follow_ups()
    return result


async def _follow_ups() -> None:
    """Let background work of the action finish (bounded), then cancel what is left."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=FOLLOW_UP_LIMIT_S)
    for task in late:
        task.cancel()


def run_once(name: str, action: str, words: Sequence[str], *, resource: str | None = None,
             timeout_s: float | None = None) -> AgentResult:
    """Everything `tandem agent run` does short of printing: never raises for a bad
    agent, action or parameter, but returns the OCF code that describes it."""
    if action not in ACTIONS:
        return AgentResult(OcfCode.ERR_UNIMPLEMENTED, f"unknown action {action!r} "
                                                      f"(actions: {', '.join(ACTIONS)})")
    try:
        agent = get_agent(name)
    except KeyError as exc:
        return AgentResult(OcfCode.ERR_INSTALLED, str(exc.args[0]))
    resource = resource or name
    try:
        given = parse_params(agent, words, resource)
    except ArgumentError as exc:
        return AgentResult(OcfCode.ERR_ARGS, str(exc))
    except ParamError as exc:
        return AgentResult(OcfCode.ERR_CONFIGURED, str(exc))
    return asyncio.run(run_action(agent, action, resource, given, timeout_s))


def describe(agent: type[ResourceAgent]) -> dict[str, Any]:
    """An agent's declaration as data (for `tandem agent info` and documentation)."""
    deeper = agent.monitor is not ResourceAgent.monitor
    timeouts = agent.timeouts
    return {
        "name": agent.name, "summary": agent.summary,
        "actions": list(ACTIONS),
        "monitor": "deeper than status" if deeper else "same as status",
        "timeouts": {"start": timeouts.start, "stop": timeouts.stop,
                     "status": timeouts.status, "monitor": timeouts.monitor},
        "params": [{"name": p.name, "type": p.type, "required": p.required,
                    "default": p.default, "choices": list(p.choices),
                    "description": p.description} for p in agent.params],
    }
