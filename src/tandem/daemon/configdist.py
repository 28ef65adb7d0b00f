"""Configuration distribution as the engine runs it: an operator's push, the chunks that
arrive from peers, and the resends to members still on an older version (see configpush
for the transfer format and the resend rules)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from tandem.common.events import EventKind
from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.daemon.configpush import (
    MAX_SENDS,
    ConfigAssembler,
    ConfigSender,
    config_chunks,
    install,
)
from tandem.daemon.events import EventLog

log = logging.getLogger("tandemd.config")

CONFIG_RESEND_S = 1.0
Send = Callable[[list[dict[str, Any]], Collection[int]], None]  # REQUEST bodies -> members


class ConfigDistribution:
    """This node's part in moving configurations around the cell."""

    def __init__(self, path: Path | None, names: Mapping[int, str], local_id: int,
                 events: EventLog, reload: Callable[[ClusterConfig], str]) -> None:
        self.path = path
        self.names = names
        self.local_id = local_id
        self.events = events
        self.reload = reload  # applies a configuration here (ValueError if it cannot)
        self.assembler = ConfigAssembler()
        self.sender = ConfigSender(CONFIG_RESEND_S)

    @property
    def source(self) -> str:
        return str(self.path or "pushed configuration")

    def push(self, text: str, running: ClusterConfig, now: float,
             versions: Mapping[int, int], send: Send) -> dict[str, Any]:
        """Install a newer configuration here and send it to every member."""
        try:
            config = parse_config(text, self.source)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if config.config_version <= running.config_version:
            raise ValueError(f"config_version {config.config_version} is not newer than "
                             f"the running version {running.config_version}: raise it")
        message = self.reload(config)
        if self.path is not None:
            install(self.path, text)
        self.sender.push(config.config_version, text)
        members = self.send_due(now, config.config_version, versions, send)
        self.events.add(EventKind.CONFIG_PUSH, node=self.names[self.local_id],
                        detail=f"version {config.config_version} sent to "
                               f"{', '.join(self.names[m] for m in members) or 'nobody'}")
        return {"version": config.config_version,
                "sent_to": [self.names[m] for m in members], "applied": message}

    def send_due(self, now: float, running: int, versions: Mapping[int, int],
                 send: Send) -> list[int]:
        """Send our configuration to members on an older version, if due."""
        sends = self.sender.due(now, self.local_id, running, dict(versions),
                                lambda: self._running_text(running))
        for member in sends.gave_up:
            self.events.add(EventKind.CONFIG_REFUSED, node=self.names[member],
                            detail=f"still on an older version after {MAX_SENDS} sends of "
                                   f"version {sends.version}")
        if sends.members:
            transfer = int(now * 1e9) & 0x7FFFFFFF
            send(config_chunks(sends.text, sends.version, transfer), sends.members)
        return list(sends.members)

    def _running_text(self, running: int) -> str | None:
        """The installed configuration file, if it is the version that runs here."""
        if self.path is None:
            return None
        try:
            text = self.path.read_text()
            if parse_config(text, str(self.path)).config_version == running:
                return text
        except (OSError, ConfigError):
            pass
        return None

    def chunk(self, sender: int, body: dict[str, Any], running: int) -> None:
        """A chunk of a configuration from a peer: install the whole once complete,
        if it is newer and this node accepts it."""
        try:
            done = self.assembler.add(sender, body)
        except ValueError as exc:
            log.warning("config from %s dropped: %s", self.names.get(sender, sender), exc)
            return
        if done is None:
            return
        version, text = done
        if version <= running:
            return
        try:
            self.reload(parse_config(text, self.source))
        except (ConfigError, ValueError) as exc:
            self.events.add(EventKind.CONFIG_REFUSED, node=self.names[self.local_id],
                            detail=f"version {version} from {self.names.get(sender)}: {exc}")
            return
        if self.path is not None:
            install(self.path, text)
