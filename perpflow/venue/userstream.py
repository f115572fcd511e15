"""The user-data stream: listen keys (`POST/PUT/DELETE /fapi/v1/listenKey`) and the websocket
that pushes ORDER_TRADE_UPDATE, ALGO_UPDATE and ACCOUNT_UPDATE events to an account's sockets.

ccxt.pro connects to `<ws base>/private/ws?listenKey=KEY` (its linear URL built from the
overlay's `.../ws`); the classic `/ws/<KEY>` is served too. A listen key stays valid until
deleted (the venue's clock may run at N x speed, so no wall-clock expiry); `drop_all` closes
every user socket (the dropped-stream drill). Events go through each connection's bounded send
queue, so a stuck client never delays the others or the ledger's group commit.
"""

from __future__ import annotations

import logging
import secrets

import orjson
from aiohttp import WSMsgType, web

from perpflow.venue.errors import BinanceError
from perpflow.venue.fanout import Outbox, SendLimits, accept, close_all
from perpflow.venue.wsrequests import WsRequestError, parse_request

logger = logging.getLogger(__name__)


class UserStreams:
    def __init__(self, limits: SendLimits | None = None):
        self.keys: dict[str, str] = {}  # listen key -> api key
        self.by_account: dict[str, str] = {}
        self.sockets: dict[web.WebSocketResponse, str] = {}  # socket -> api key
        self.outboxes: dict[web.WebSocketResponse, Outbox] = {}  # bounded send queues
        self.limits = limits or SendLimits()
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
        if not await accept(ws, request):
            return ws
        api_key = self.keys.get(lk)
        if api_key is None:
            await ws.send_json({"error": {"code": -1125, "msg": "This listenKey does not exist."}})
            await ws.close()
            return ws
        self.sockets[ws] = api_key
        box = self.outboxes[ws] = Outbox(ws, request, self.limits)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:  # SUBSCRIBE etc. on a user stream: acknowledge
                    try:
                        box.put(
                            orjson.dumps(
                                {"result": None, "id": parse_request(msg.data).id}
                            ).decode()
                        )
                    except WsRequestError as exc:
                        box.put(orjson.dumps(exc.frame()).decode())
        finally:
            self.sockets.pop(ws, None)
            self.outboxes.pop(ws, None)
            await box.close()
        return ws

    async def publish(self, events: list[tuple[str, dict]]) -> None:
        """Queue each (api key, event) for that account's connections; never waits for a client
        (one that falls behind is cut: `perpflow.venue.fanout`)."""
        if not events or not self.sockets:
            return
        for api_key, msg in events:
            text = orjson.dumps(msg).decode()
            for ws, owner in list(self.sockets.items()):
                box = self.outboxes.get(ws)
                if owner == api_key and box is not None and box.put(text):
                    self.sent += 1

    async def drop_all(self) -> int:
        return await close_all(list(self.outboxes.values()), code=1001,
                               message=b"user stream dropped (drill)")  # fmt: skip
