"""Bounded per-connection send queues for the local exchange's websockets.

A publisher puts each message on every subscriber's `Outbox` and moves on; one task per
connection writes its queue to the socket. A connection that falls behind (its oldest queued
message waited longer than `SendLimits.max_lag_seconds`, or more than `max_messages` are queued)
is cut, as Binance cuts a client that does not keep up, instead of holding back everyone else:
aiohttp's `send_str` waits for the socket to drain, so a loop that awaits each subscriber in turn
runs at the pace of its slowest reader (one client that stopped reading froze every stream).

Written by hand: aiohttp has no per-connection queue, and the policy (lag and size bounds, how a
slow client is cut) is the exchange's, not a library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendLimits:
    """When a websocket connection counts as too slow, and how much the kernel may buffer.

    `max_lag_seconds`: the oldest message still queued for a connection may wait this long;
    `max_messages`: at most this many queued (a memory bound under a flood);
    `socket_buffer`: SO_SNDBUF of each connection in bytes (None: the kernel's own, up to
    megabytes, which a stuck client fills before its queue starts to grow)."""

    max_lag_seconds: float = 5.0
    max_messages: int = 100_000
    socket_buffer: int | None = None

    def __post_init__(self):
        if not self.max_lag_seconds > 0 or self.max_messages < 1:
            raise ValueError(f"send limits must be positive, got {self}")
        if self.socket_buffer is not None and self.socket_buffer < 1024:
            raise ValueError(f"socket_buffer must be >= 1024 bytes, got {self.socket_buffer}")


class Outbox:
    """The send queue of one websocket connection and the task that drains it.

    `put` never waits; it returns False once the connection is gone or cut. `cut` (too slow)
    aborts the connection: its reader loop ends and the subscriber's client sees a reset."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, limits: SendLimits,
                 on_cut=None):  # fmt: skip
        self.ws, self.limits, self.on_cut = ws, limits, on_cut
        self.transport = request.transport
        self.peer = request.remote
        self.cut_reason: str | None = None
        self.sent = 0
        self._queue: deque[tuple[float, str]] = deque()
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()  # set while nothing is queued or being sent
        self.idle.set()
        if limits.socket_buffer is not None and self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.socket_buffer)
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, text: str) -> bool:
        """Queue one text frame; False (and nothing queued) if the connection is closed or was
        cut now or before for falling behind."""
        if self.cut_reason is not None or self.ws.closed or self._task.done():
            return False
        now = time.monotonic()
        queue = self._queue
        if queue:
            lag = now - queue[0][0]
            if lag > self.limits.max_lag_seconds or len(queue) >= self.limits.max_messages:
                self.cut(f"too slow: {len(queue)} messages queued, the oldest {lag:.1f} s")
                return False
        queue.append((now, text))
        if not self._wake.is_set():
            self._wake.set()
            self.idle.clear()
        return True

    async def _drain(self) -> None:
        queue, ws = self._queue, self.ws
        try:
            while True:
                while queue:
                    await ws.send_str(queue[0][1])
                    queue.popleft()  # after the send: the head's age is the connection's lag
                    self.sent += 1
                self._wake.clear()
                self.idle.set()
                await self._wake.wait()
        except (ConnectionError, RuntimeError):  # closed by the client: `put` refuses from now
            queue.clear()
            self.idle.set()

    def cut(self, reason: str) -> None:
        """Drop the connection now (it fell behind): queue discarded, socket aborted."""
        if self.cut_reason is not None:
            return
        self.cut_reason = reason
        self._queue.clear()
        self._task.cancel()
        self.idle.set()
        logger.warning("websocket client %s cut: %s", self.peer, reason)
        if self.transport is not None:
            self.transport.abort()
        if self.on_cut is not None:
            self.on_cut(self)

    async def close(self) -> None:
        """Stop the sender (the connection ended)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def close_all(outboxes, *, code: int, message: bytes, timeout: float = 2.0) -> int:
    """Close the connections of `outboxes` together (going away), each once what was queued for
    it has gone out; a client that does not take its queue and the close frame within `timeout`
    is aborted. Returns how many there were."""
    outboxes = list(outboxes)

    async def close(box: Outbox) -> None:
        try:
            async with asyncio.timeout(timeout):
                await box.idle.wait()
                await box.ws.close(code=code, message=message)
        except Exception:  # a stuck or broken client: drop it
            if box.transport is not None:
                box.transport.abort()

    await asyncio.gather(*(close(box) for box in outboxes))
    return len(outboxes)


async def accept(ws, request) -> bool:
    """Finish `ws`'s handshake for `request`; False when the client left during it (a recorder
    cut for falling behind reconnects, and may drop that attempt too): logged, not a server
    error. The handler then returns `ws` unprepared and aiohttp closes the connection."""
    try:
        await ws.prepare(request)
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError is one
        logger.info("websocket client %s left during the handshake", request.remote)
        return False
    return True
