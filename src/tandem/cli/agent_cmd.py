"""`tandem agent list | info NAME | run NAME ACTION key=value...`: what the resource
agents take, and running one action by hand (as ocf-tester or crm_resource --force-*
do), exiting with the OCF code."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json, table
from tandem.resources.base import ParamError, ParamSpec, ResourceAgent, timed
from tandem.resources.registry import agent_names, get_agent

ACTIONS = ("start", "stop", "status", "monitor", "validate")


def register(sub: Sub) -> None:
    agent = sub.add_parser("agent", help="resource agents: list, describe, run by hand")
    agent.set_defaults(group_parser=agent)
    cmds = agent.add_subparsers(title="agent commands", metavar="COMMAND")
    lst = cmds.add_parser("list", help="every agent with a one-line summary")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
    info = cmds.add_parser("info", help="parameters, actions and timeouts of an agent")
    info.add_argument("name")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    run = cmds.add_parser("run", help="run one action of an agent here and now")
    run.add_argument("name")
    run.add_argument("action", choices=ACTIONS)
    run.add_argument("params", nargs="*", metavar="KEY=VALUE")
    run.add_argument("--resource", default="manual", help="resource name (default: manual)")
    run.add_argument("--timeout", type=float, metavar="S", help="override the timeout")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run)


def _agent(name: str) -> type[ResourceAgent]:
    try:
        return get_agent(name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def describe(agent: type[ResourceAgent]) -> dict[str, Any]:
    t = agent.timeouts
    return {"name": agent.name, "summary": agent.summary,
            "actions": list(ACTIONS),
            "timeouts": {"start": t.start, "stop": t.stop, "status": t.status,
                         "monitor": t.monitor},
            "params": [{"name": p.name, "type": p.type, "required": p.required,
                        "default": p.default, "description": p.description}
                       for p in agent.params]}


def cmd_list(args: argparse.Namespace) -> int:
    rows = [[name, get_agent(name).summary] for name in agent_names()]
    if args.json:
        print_json([{"name": n, "summary": s} for n, s in rows])
    else:
        table(["agent", "summary"], rows)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    data = describe(_agent(args.name))
    if args.json:
        print_json(data)
        return 0
    print(f"{data['name']}: {data['summary']}")
    print("actions: " + ", ".join(data["actions"]) + "; timeouts (s): " +
          ", ".join(f"{k} {v:g}" for k, v in data["timeouts"].items()))
    table(["parameter", "type", "required", "default", "description"],
          [[p["name"], p["type"], "yes" if p["required"] else "no",
            "" if p["default"] in (None, "", [], {}) else json.dumps(p["default"]),
            p["description"]] for p in data["params"]])
    return 0


def parse_value(spec: ParamSpec, text: str) -> Any:
    """A command-line value converted to the parameter's declared type."""
    try:
        if spec.type == "integer":
            return int(text)
        if spec.type == "float":
            return float(text)
        if spec.type == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "yes", "1")
        if spec.type == "list":
            return [x for x in text.split(",") if x]
        if spec.type == "table":
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
    except ValueError:
        raise UsageError(f"{spec.name}: expected {spec.type}, got {text!r}") from None
    return text


def parse_params(agent: type[ResourceAgent], words: list[str]) -> dict[str, Any]:
    specs = {p.name: p for p in agent.params}
    values: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep:
            raise UsageError(f"expected KEY=VALUE, got {word!r}")
        if key not in specs:
            raise UsageError(f"{agent.name} has no parameter {key!r} "
                             f"(it takes: {', '.join(sorted(specs))})")
        values[key] = parse_value(specs[key], text)
    return values


def cmd_run(args: argparse.Namespace) -> int:
    agent_class = _agent(args.name)
    try:
        agent = agent_class.create(args.resource, parse_params(agent_class, args.params))
    except ParamError as exc:
        print(f"tandem: {exc}")
        return 2  # OCF_ERR_ARGS
    if args.action == "validate":
        print(f"{args.name}: parameters are valid")
        return 0
    result = asyncio.run(timed(args.action, agent, args.timeout))
    if args.json:
        print_json({"agent": args.name, "action": args.action, "code": int(result.code),
                    "meaning": result.code.name, "message": result.message,
                    "duration_ms": round(result.duration_s * 1000, 1)})
    else:
        print(f"{args.name} {args.action}: {result.code.name}"
              + (f" - {result.message}" if result.message else "")
              + f" ({result.duration_s * 1000:.0f} ms)")
    return int(result.code)
