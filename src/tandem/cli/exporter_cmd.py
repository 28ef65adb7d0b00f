"""`tandem exporter`: the Prometheus exporter, a process of its own beside tandemd."""

from __future__ import annotations

import argparse
import logging
import sys

from tandem.cli.client import socket_path
from tandem.cli.common import Sub
from tandem.monitor.exporter import DEFAULT_LISTEN, DEFAULT_TIMEOUT, TandemCollector, serve


def register(sub: Sub) -> None:
    exporter = sub.add_parser(
        "exporter", help="serve Prometheus metrics read from tandemd's control socket",
        description="Serve /metrics (ha_cluster_tandem_*) for Prometheus. Each scrape "
                    "asks the local tandemd; when it does not answer, "
                    "ha_cluster_tandem_scrape_success is 0 and the exporter keeps serving.")
    exporter.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN,
                          metavar="ADDR:PORT",
                          help=f"where to serve (default {DEFAULT_LISTEN}; "
                               f"0.0.0.0:PORT or [::]:PORT for every address)")
    exporter.add_argument("--socket", default=None, metavar="PATH",
                          help="tandemd's control socket (default $TANDEM_SOCKET or "
                               f"{socket_path()})")
    exporter.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT,
                          metavar="S", help="how long one question to tandemd may take "
                                            f"(default {DEFAULT_TIMEOUT:g} s)")
    exporter.set_defaults(func=cmd_exporter)


def listen_address(text: str) -> tuple[str, int]:
    """"ADDR:PORT" (ADDR may be [IPv6]) as (host, port); bad ones are usage errors."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT, got {text!r}")
    return host, int(port)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def cmd_exporter(args: argparse.Namespace) -> int:
    """Serve until stopped (SIGINT or SIGTERM end the process)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="tandem exporter: %(message)s")
    host, port = args.listen
    exporter = serve(host, port, TandemCollector(args.socket, args.timeout))
    where = f"[{host}]" if ":" in host else host
    logging.getLogger("tandem.exporter").info(
        "serving http://%s:%d/metrics for %s", where, exporter.port,
        args.socket or socket_path())
    exporter.thread.join()
    return 0
