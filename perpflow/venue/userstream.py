"""The user-data stream: listen keys (`POST/PUT/DELETE /fapi/v1/listenKey`) and the websocket
that pushes ORDER_TRADE_UPDATE, ALGO_UPDATE and ACCOUNT_UPDATE events to an account's sockets.

ccxt.pro connects to `<ws base>/private/ws?listenKey=KEY` (its linear URL built from the
overlay's `.../ws`); the classic `/ws/<KEY>` is served too. A listen key stays valid until
deleted (the venue's clock may run at N x speed, so no wall-clock expiry); `drop_all` closes
every user socket (the dropped-stream drill).
"""

from __future__ import annotations

import contextlib
import logging
import secrets

import orjson
from aiohttp import WSMsgType, web

from perpflow.venue.errors import BinanceError

logger = logging.getLogger(__name__)


class UserStreams:
    def __init__(self):
        self.keys: dict[str, str] = {}  # listen key -> api key
        self.by_account: dict[str, str] = {}
        self.sockets: dict[web.WebSocketResponse, str] = {}  # socket -> api key
        self.sent = 0

    # --- listen keys -----------------------------------------------------------------------
    def create(self, api_key: str, q: dict) -> dict:
        lk = self.by_account.get(api_key)
        if lk is None:
            lk = secrets.token_urlsafe(48)
            self.keys[lk] = api_key
            self.by_account[api_key] = lk
        return {"listenKey": lk}

    def keepalive(self, api_key: str, q: dict) -> dict:
        lk = self.by_account.get(api_key)
        if lk is None:
            raise BinanceError(-1125, "This listenKey does not exist.")
        return {"listenKey": lk}

    def delete(self, api_key: str, q: dict) -> dict:
        lk = self.by_account.pop(api_key, None)
        if lk is not None:
            self.keys.pop(lk, None)
        return {}

    # --- websocket -------------------------------------------------------------------------
    def listen_key_of(self, request: web.Request) -> str | None:
        """The listen key a websocket request asks for, if it is a user-data connection."""
        if request.path.rstrip("/").endswith("/private/ws"):
            return request.query.get("listenKey", "")
        if "/ws/" in request.path:
            tail = request.path.rsplit("/ws/", 1)[-1]
            if tail in self.keys:
                return tail
        return None

    async def handle(self, request: web.Request, lk: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, compress=False)
        await ws.prepare(request)
        api_key = self.keys.get(lk)
        if api_key is None:
            await ws.send_json({"error": {"code": -1125, "msg": "This listenKey does not exist."}})
            await ws.close()
            return ws
        self.sockets[ws] = api_key
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:  # SUBSCRIBE etc. on a user stream: acknowledge
                    req = orjson.loads(msg.data)
                    await ws.send_json({"result": None, "id": req.get("id")})
        finally:
            self.sockets.pop(ws, None)
        return ws

    async def publish(self, events: list[tuple[str, dict]]) -> None:
        if not events or not self.sockets:
            return
        for api_key, msg in events:
            text = orjson.dumps(msg).decode()
            for ws, owner in list(self.sockets.items()):
                if owner == api_key and not ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(text)
                        self.sent += 1

    async def drop_all(self) -> int:
        socks = list(self.sockets)
        for ws in socks:
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"user stream dropped (drill)")
        return len(socks)
