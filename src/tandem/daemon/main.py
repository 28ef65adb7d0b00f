"""tandemd entry point: arguments, logging, signals, and the engine's run loop.

Signal handlers only set flags; the loop acts on them (reload on SIGHUP, clean stop on
SIGTERM/SIGINT), so no work ever runs inside a handler.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from tandem.config import ClusterConfig, ConfigError, load_config

LOG_FILE = "/var/log/tandem/tandemd.log"
log = logging.getLogger("tandemd")


def setup_logging(log_file: str | None) -> None:
    """Log to stderr and, when possible, to the daemon's log file."""
    fmt = logging.Formatter("%(asctime)s.%(msecs)03d tandemd[%(process)d] %(levelname)s "
                            "%(message)s", "%Y-%m-%d %H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.handlers.clear()
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file)
        except OSError as exc:
            log.warning("cannot log to %s: %s", log_file, exc)
        else:
            handler.setFormatter(fmt)
            root.addHandler(handler)


class Signals:
    """Flags raised by signal handlers and consumed by the main loop."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.wake = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop.set()
        self.wake.set()

    def _on_reload(self, signum: int, _frame: FrameType | None) -> None:
        self.reload.set()
        self.wake.set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tandemd", description="tandem node daemon")
    parser.add_argument("--config", default="/etc/tandem/cluster.toml",
                        help="cluster configuration file (default: %(default)s)")
    parser.add_argument("--node", default=None,
                        help="name of this node in the configuration (default: hostname)")
    parser.add_argument("--log-file", default=LOG_FILE,
                        help="log file, empty for stderr only (default: %(default)s)")
    return parser.parse_args(argv)


def resolve_local_node(config: ClusterConfig, name: str | None) -> str:
    """The local node: given explicitly, or this host's name."""
    candidate = name or socket.gethostname().split(".")[0]
    config.node(candidate)  # KeyError names the known nodes
    return candidate


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_file or None)
    try:
        config = load_config(args.config)
        node = resolve_local_node(config, args.node)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except KeyError as exc:
        log.error("%s: %s", args.config, exc.args[0])
        return 2
    signals = Signals()
    signals.install()
    log.info("starting on node %s of cluster %s (config version %d)", node, config.name,
             config.config_version)
    while not signals.stop.is_set():
        signals.wake.wait(1.0)
        signals.wake.clear()
        if signals.reload.is_set():
            signals.reload.clear()
            try:
                config = load_config(args.config)
                log.info("configuration reloaded (version %d)", config.config_version)
            except ConfigError as exc:
                log.error("reload refused, keeping the running configuration: %s", exc)
    log.info("stopped cleanly")
    return 0
