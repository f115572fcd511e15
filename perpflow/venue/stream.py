"""The local exchange's market websocket: Binance's `!forceOrder@arr` / `<sym>@forceOrder` streams
replayed from stored liquidation events.

Binance's protocol, as ccxt.pro speaks it: connect to `/market/ws/<n>` (or `/ws`), send
`{"method": "SUBSCRIBE", "params": [...], "id": n}`, get `{"result": null, "id": n}`, then pushed
`{"e": "forceOrder", "E": ..., "o": {...}}` messages. Streams the venue does not replay (klines,
depth) are acknowledged and stay silent, so a client falls back to REST. Requests are checked as
Binance checks them (`perpflow.venue.wsrequests`, Binance's error frames); every connection has
a bounded send queue and is cut when it falls behind (`perpflow.venue.fanout`).

Written by hand: no library serves an exchange's websocket from stored data. The hub keeps a
ledger of what it delivered and what was due while nobody listened, so tests can prove a
collector lost nothing it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np
import orjson
import pandas as pd
from aiohttp import WSMsgType, web

from perpflow.venue.fanout import Outbox, SendLimits, accept, close_all
from perpflow.venue.wsrequests import MAX_STREAMS, WsRequestError, parse_request, stream_name

logger = logging.getLogger(__name__)
ALL_STREAM = "!forceorder@arr"
PUMP_SECONDS = 0.02


def event_key(symbol: str, t_ms: int, side: str, price: float, qty: float) -> tuple:
    """Identity of one liquidation order (what a collector dedupes on)."""
    return (symbol, int(t_ms), side.lower(), round(float(price), 10), round(float(qty), 12))


class LiquidationFeed:
    """Stored liquidation events (perpflow store records) on an exchange-time schedule.

    Event i is due at `start_ms + (ts_event_i - anchor_ms) / speed`; its message carries that
    time as `T`. Replay mode passes the venue's whole-day shift (start = anchor + shift, speed 1);
    demos and tests replay a stored burst from "now" at a higher speed.
    """

    def __init__(self, events: pd.DataFrame, *, start_ms: int | None = None,
                 anchor_ms: int | None = None, speed: float = 1.0):  # fmt: skip
        if speed <= 0:
            raise ValueError(f"liquidation replay speed must be > 0, got {speed}")
        ev = events.sort_values("ts_event", kind="stable").reset_index(drop=True)
        t = ev["ts_event"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
        anchor = int(t[0]) if anchor_ms is None and len(t) else int(anchor_ms or 0)
        self._offsets = np.round((t - anchor) / speed).astype("int64")
        self.due_ms = self._offsets.copy()
        self.started = False
        if start_ms is not None:
            self.start(start_ms)
        self.symbols = ev["symbol"].astype(str).to_numpy()
        self.sides = ev["side"].astype(str).str.upper().to_numpy()
        self.prices = ev["price"].to_numpy(dtype="float64")
        self.qtys = ev["qty"].to_numpy(dtype="float64")
        self._next = 0

    def start(self, start_ms: int) -> None:
        """Fix the schedule: the first event is due at `start_ms` (+ its offset)."""
        self.due_ms = start_ms + self._offsets
        self.started = True

    def __len__(self) -> int:
        return len(self.due_ms)

    def pop_due(self, now_ms: int) -> list[dict]:
        """Messages that became due since the last call (each returned once)."""
        end = int(np.searchsorted(self.due_ms, now_ms, side="right"))
        out = [self.message(i, now_ms) for i in range(self._next, end)]
        self._next = end
        return out

    def message(self, i: int, now_ms: int) -> dict:
        q, p = f"{self.qtys[i]:.12g}", f"{self.prices[i]:.12g}"
        return {
            "e": "forceOrder", "E": int(now_ms),
            "o": {"s": self.symbols[i], "S": self.sides[i], "o": "LIMIT", "f": "IOC", "q": q,
                  "p": p, "ap": p, "X": "FILLED", "l": q, "z": q, "T": int(self.due_ms[i])},
        }  # fmt: skip

    @property
    def finished(self) -> bool:
        return self._next >= len(self.due_ms)


def _key_of(msg: dict) -> tuple:
    o = msg["o"]
    return event_key(o["s"], o["T"], o["S"], float(o["ap"]), float(o["l"]))


class StreamHub:
    """Websocket connections, their subscriptions, and the delivery ledger. Every connection
    has its own bounded send queue (`perpflow.venue.fanout.Outbox`): publishing never waits for
    a client, and a client that falls behind `limits` is cut (`cut`: how many were)."""

    def __init__(self, feed: LiquidationFeed | None = None,
                 clock: Callable[[], float] = time.time, depth=None,
                 limits: SendLimits | None = None):  # fmt: skip
        self.feed = feed
        self.depth = depth  # perpflow.venue.depth.DepthFeed: <symbol>@depth diff streams
        self.clock = clock
        self.limits = limits or SendLimits()
        self.sockets: dict[web.WebSocketResponse, set[str]] = {}
        self.outboxes: dict[web.WebSocketResponse, Outbox] = {}
        self.combined: set[web.WebSocketResponse] = set()  # SET_PROPERTY combined true
        self.delivered: list[tuple] = []  # (key, connection count it went to)
        self.unheard: list[tuple] = []  # due while no connection subscribed to it
        self.connections = 0
        self.cut: list[str] = []  # why each connection cut for falling behind was cut
        self._task: asyncio.Task | None = None

    # --- connections -------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, compress=False)  # as Binance: uncompressed
        if not await accept(ws, request):
            return ws
        path_stream = request.path.rsplit("/ws/", 1)[-1] if "/ws/" in request.path else ""
        first = stream_name(path_stream)
        self.sockets[ws] = {first} if first else set()
        box = self.outboxes[ws] = Outbox(ws, request, self.limits,
                                         on_cut=lambda b: self.cut.append(b.cut_reason))  # fmt: skip
        self.connections += 1
        if first:
            self._ensure_pump()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_request(ws, box, msg.data)
        finally:
            self.sockets.pop(ws, None)
            self.outboxes.pop(ws, None)
            self.combined.discard(ws)
            await box.close()
        return ws

    def _on_request(self, ws: web.WebSocketResponse, box: Outbox, text: str) -> None:
        """Answer one request frame (queued behind the data already due to this client)."""
        try:
            req = parse_request(text)
        except WsRequestError as exc:
            box.put(orjson.dumps(exc.frame()).decode())
            return
        subs, result = self.sockets[ws], None
        if req.method == "SUBSCRIBE":
            if len(subs | set(req.params)) > MAX_STREAMS:
                err = WsRequestError(2, f"Invalid request: too many streams (at most {MAX_STREAMS} "
                                        "a connection)", req.id)  # fmt: skip
                box.put(orjson.dumps(err.frame()).decode())
                return
            subs.update(req.params)
            self._ensure_pump()
        elif req.method == "UNSUBSCRIBE":
            subs.difference_update(req.params)
        elif req.method == "LIST_SUBSCRIPTIONS":
            result = sorted(subs)
        elif req.method == "GET_PROPERTY":
            result = ws in self.combined
        elif req.params[1]:  # SET_PROPERTY combined
            self.combined.add(ws)
        else:
            self.combined.discard(ws)
        box.put(orjson.dumps({"result": result, "id": req.id}).decode())

    async def drop_all(self) -> int:
        """Close every connection (going away), as an exchange restart would. Returns the count."""
        return await close_all(list(self.outboxes.values()), code=1001, message=b"venue restart")

    # --- publishing --------------------------------------------------------------------
    def _ensure_pump(self) -> None:
        if (self.feed is not None or self.depth is not None) and self._task is None:
            now = int(self.clock() * 1000)
            if self.feed is not None and not self.feed.started:  # "from now": first subscriber
                self.feed.start(now)
            if self.depth is not None and self.depth.start_ms is None:
                self.depth.start(now)
            self._task = asyncio.get_running_loop().create_task(self._pump())

    def start_depth(self) -> None:
        """Start the depth schedule now (the REST snapshot may be asked before any subscription)."""
        if self.depth is not None and self.depth.start_ms is None:
            self.depth.start(int(self.clock() * 1000))

    async def _pump(self) -> None:
        while not ((self.feed is None or self.feed.finished)
                   and (self.depth is None or self.depth.finished)):  # fmt: skip
            now = int(self.clock() * 1000)
            if self.feed is not None:
                for msg in self.feed.pop_due(now):
                    self._publish(msg)
            if self.depth is not None:
                for stream, text, send in self.depth.pop_due(now):
                    if send:
                        self._send(stream, text)
            await asyncio.sleep(PUMP_SECONDS)

    def _send(self, stream: str, text: str, also: str | None = None) -> int:
        """Queue a message (JSON text) for every connection subscribed to `stream` (or to
        `also`); returns how many it was queued for. Never waits for a client."""
        sent = 0
        for ws, subs in list(self.sockets.items()):
            name = stream if stream in subs else also if also is not None and also in subs else None
            if name is not None:
                body = f'{{"stream":"{name}","data":{text}}}' if ws in self.combined else text
                box = self.outboxes.get(ws)
                if box is not None and box.put(body):
                    sent += 1
        return sent

    def _publish(self, msg: dict) -> None:
        stream = msg["o"]["s"].lower() + "@forceorder"
        sent = self._send(stream, orjson.dumps(msg).decode(), also=ALL_STREAM)
        (self.delivered if sent else self.unheard).append((_key_of(msg), sent))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.drop_all()


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"
