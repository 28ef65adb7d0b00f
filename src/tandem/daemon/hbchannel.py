"""The local channel between the engine and its heartbeat process: one Unix socket pair,
length-prefixed frames, each a pickled tuple (both ends are this package, on this
machine, started by the same daemon).

Neither end may ever block on the other: sends go out non-blocking, what the socket
cannot take now waits in a bounded queue, and past that the oldest frames are dropped
and counted (everything sent here is repeated or recoverable: datagrams, claims that a
newer copy replaces). A closed peer is reported once through `on_close`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tandemd.channel")

_LENGTH = struct.Struct("<I")
MAX_FRAME = 4 << 20
MAX_QUEUED = 4096
READ_CHUNK = 1 << 16


class Channel:
    """One end of the socket pair, on the running loop."""

    def __init__(self, sock: socket.socket, on_message: Callable[[tuple[Any, ...]], None],
                 on_close: Callable[[], None]) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self._on_message = on_message
        self._on_close = on_close
        self._inbox = bytearray()
        self._outbox: collections.deque[bytes] = collections.deque()
        self._writing = False
        self._closed = False
        self.dropped = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def send(self, *message: Any) -> None:
        """Queue one message (never blocks)."""
        if self._closed:
            return
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if len(self._outbox) >= MAX_QUEUED:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append(_LENGTH.pack(len(data)) + data)
        self._flush()

    def _flush(self) -> None:
        while self._outbox:
            frame = self._outbox[0]
            try:
                sent = self.sock.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._close()
                return
            if sent < len(frame):
                self._outbox[0] = frame[sent:]
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.sock.fileno(), self._writable)
                return
            self._outbox.popleft()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.sock.fileno())

    def _writable(self) -> None:
        self._flush()

    def _readable(self) -> None:
        try:
            data = self.sock.recv(READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close()
            return
        self._inbox += data
        while len(self._inbox) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._inbox)
            if size > MAX_FRAME:
                log.error("channel: a frame of %d bytes: closing", size)
                self._close()
                return
            if len(self._inbox) < _LENGTH.size + size:
                return
            frame = bytes(self._inbox[_LENGTH.size:_LENGTH.size + size])
            del self._inbox[:_LENGTH.size + size]
            self._on_message(pickle.loads(frame))

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self.sock.fileno())
        if self._writing:
            self._loop.remove_writer(self.sock.fileno())
        self.sock.close()
        self._on_close()

    def close(self) -> None:
        """Close without telling `on_close` (this end is the one stopping)."""
        self._on_close = lambda: None
        self._close()

    @property
    def closed(self) -> bool:
        return self._closed
