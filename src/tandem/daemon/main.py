"""tandemd entry point: arguments, logging, signals, and the engine's run loop.

Signal handlers only set flags (asyncio events); the loop acts on them (reload on
SIGHUP, clean stop on SIGTERM/SIGINT), so no work ever runs inside a handler.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import threading
from pathlib import Path

from tandem.config import ClusterConfig, ConfigError, load_config
from tandem.config.cellfile import exposures
from tandem.daemon.commands import handlers
from tandem.daemon.control import ControlServer
from tandem.daemon.engine import Engine
from tandem.daemon.logsetup import (
    FACILITIES,
    SYSLOG_SOCKET,
    SyslogTarget,
    reopen_files,
    setup_logging,
)
from tandem.daemon.sdnotify import SystemdNotifier
from tandem.membership.rt import lock_memory
from tandem.wire import KeyFileError, TransportError

LOG_FILE = "/var/log/tandem/tandemd.log"
THREAD_STACK = 512 * 1024  # worker threads need little; locked memory stays small
log = logging.getLogger("tandemd")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tandemd", description="tandem node daemon")
    parser.add_argument("--config", default="/etc/tandem/cluster.toml",
                        help="cluster configuration file (default: %(default)s)")
    parser.add_argument("--node", default=None,
                        help="name of this node in the configuration (default: hostname)")
    parser.add_argument("--log-file", default=LOG_FILE,
                        help="log file, empty for stderr only (default: %(default)s)")
    parser.add_argument("--syslog", default="auto", metavar="FACILITY",
                        choices=["auto", "none", *FACILITIES],
                        help="also log to syslog with this facility (auto: daemon when "
                             f"{SYSLOG_SOCKET} exists; none: never)")
    parser.add_argument("--syslog-ident", default="tandemd", metavar="NAME",
                        help="syslog identifier (default: %(default)s; the heartbeat "
                             "process adds -hb)")
    parser.add_argument("--unblock", action="store_true",
                        help="start quorate without waiting to see every node once "
                             "(the operator vouches that no peer runs anything)")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false",
                        help="do not ask for realtime scheduling and locked memory")
    return parser.parse_args(argv)


def resolve_local_node(config: ClusterConfig, name: str | None) -> str:
    """The local node: given explicitly, or this host's name."""
    candidate = name or socket.gethostname().split(".")[0]
    config.node(candidate)  # KeyError names the known nodes
    return candidate


def syslog_target(args: argparse.Namespace) -> SyslogTarget | None:
    """Where syslog lines go, from --syslog and --syslog-ident (None: not to syslog)."""
    if args.syslog == "none" or (args.syslog == "auto" and not os.path.exists(SYSLOG_SOCKET)):
        return None
    facility = "daemon" if args.syslog == "auto" else args.syslog
    return SyslogTarget(facility=facility, ident=args.syslog_ident)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_file or None, syslog=syslog_target(args))
    try:
        config = load_config(args.config)
        node = resolve_local_node(config, args.node)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except KeyError as exc:
        log.error("%s: %s", args.config, exc.args[0])
        return 2
    warn_exposed(args.config, config)
    try:
        return asyncio.run(serve(config, node, args))
    except (KeyFileError, TransportError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1


async def serve(config: ClusterConfig, node: str, args: argparse.Namespace) -> int:
    """Run the engine until SIGTERM/SIGINT; SIGHUP reloads the configuration."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload = asyncio.Event()
    systemd = SystemdNotifier()

    def leave() -> None:
        stop.set()
        systemd.stopping()

    # Handlers only raise flags (and tell systemd); the loop below acts on them.
    loop.add_signal_handler(signal.SIGTERM, leave)
    loop.add_signal_handler(signal.SIGINT, leave)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    threading.stack_size(THREAD_STACK)
    # Memory is locked here too; real-time scheduling is for the heartbeat process only,
    # never for the loop that runs agents and decisions.
    memory = lock_memory() if args.realtime else None
    engine = Engine(config, node, unblocked=args.unblock, config_path=Path(args.config),
                    realtime=args.realtime, log_file=args.log_file or None,
                    syslog=syslog_target(args))
    engine.on_cycle = systemd.feed
    engine.paths.ensure()
    log.info("starting on node %s of cluster %s (config version %d)%s", node, config.name,
             config.config_version, f"; locked memory: {memory.detail}" if memory else "")
    await engine.open()
    if engine.net is not None and engine.net.scheduling is not None:
        log.info("heartbeat process: %s", engine.net.scheduling.detail)
    control = ControlServer(engine.paths.socket, handlers(engine))
    await control.start()
    systemd.ready(f"node {node} of cluster {config.name}: joining the cell")
    runner = loop.create_task(engine.run(stop))
    while not runner.done():
        waiter = loop.create_task(reload.wait())
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if reload.is_set():
            reload.clear()
            reopened = reopen_files()
            log.info("SIGHUP: %d log file(s) reopened, configuration reloaded", reopened)
            _reload(args.config, engine)
    await control.close()
    runner.result()
    if engine.halted:
        log.error("stopped: %s", engine.halted)
        return 1
    log.info("stopped cleanly")
    return 0


def warn_exposed(path: str, config: ClusterConfig) -> None:
    """Say (without refusing) that a secret of the cell is readable by other users."""
    for line in exposures(Path(path), config):
        log.warning("%s", line)


def _reload(path: str, engine: Engine) -> None:
    try:
        config = load_config(path)
        warn_exposed(path, config)
        log.info("%s", engine.reload(config))
    except (ConfigError, ValueError) as exc:
        log.error("reload refused, keeping the running configuration: %s", exc)
