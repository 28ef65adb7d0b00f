"""`tandem agent list | info NAME | run NAME ACTION [KEY=VALUE...]`: what the resource
agents take, and running one action by hand (as ocf-tester or crm_resource --force-*
do). `run` exits with the action's OCF code, so scripts and tests can rely on it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json, table
from tandem.resources.registry import agent_names, get_agent
from tandem.resources.runner import ACTIONS, describe, run_once


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
    run = cmds.add_parser(
        "run", help="run one action of an agent here and now; exits with the OCF code",
        description="Values follow the declared type: n=3, flag=yes, items=a,b or "
                    "items='[\"a b\", \"c\"]', table.key=value or table='{\"key\": 1}'.")
    run.add_argument("name")
    run.add_argument("action", choices=ACTIONS)
    run.add_argument("params", nargs="*", metavar="KEY=VALUE")
    run.add_argument("--resource", metavar="NAME",
                     help="resource name (default: the agent's name)")
    run.add_argument("--timeout", type=float, metavar="S",
                     help="action timeout in seconds (default: the agent's)")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run)


def cmd_list(args: argparse.Namespace) -> int:
    rows = [[name, get_agent(name).summary] for name in agent_names()]
    if args.json:
        print_json([{"name": n, "summary": s} for n, s in rows])
    else:
        table(["agent", "summary"], rows)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    try:
        data = describe(get_agent(args.name))
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if args.json:
        print_json(data)
        return 0
    print(f"{data['name']}: {data['summary']}")
    print(f"actions: {', '.join(data['actions'])} (monitor: {data['monitor']})")
    print("default timeouts: " + ", ".join(f"{k} {v:g} s" for k, v in data["timeouts"].items()))
    table(["parameter", "type", "required", "default", "description"],
          [[p["name"], p["type"], "yes" if p["required"] else "no", _shown(p["default"]),
            p["description"] + (f" (one of: {', '.join(p['choices'])})" if p["choices"]
                                else "")]
           for p in data["params"]])
    return 0


def _shown(value: Any) -> str:
    return "" if value in (None, "", [], {}) else json.dumps(value)


def cmd_run(args: argparse.Namespace) -> int:
    resource = args.resource or args.name
    result = run_once(args.name, args.action, args.params, resource=resource,
                      timeout_s=args.timeout)
    if args.json:
        print_json({"agent": args.name, "resource": resource, "action": args.action,
                    "code": int(result.code), "meaning": result.code.name,
                    "message": result.message,
                    "duration_ms": round(result.duration_s * 1000, 1)})
    else:
        print(f"{args.name} {args.action} {resource}: {result.code.name}"
              + (f" - {result.message}" if result.message else "")
              + f" ({result.duration_s * 1000:.0f} ms)")
    return int(result.code)
