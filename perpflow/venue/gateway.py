"""The request pipeline of a venue with accounts: drills, catch-up, auth, route, commit, push.

Every private request first catches the matching engine up to the venue clock
(`Engine.advance_to`), then runs its endpoint; its changes are written to the ledger before the
answer goes out (requests in flight together share one write: `commits.GroupCommit`) and the
user-data events they produced are pushed after the write. Market data does not touch the
engine (its answers do not depend on it); a ticker catches up every `tick_seconds` so user
streams see fills with no private request coming in. A request that fails with a Binance
error keeps what the catch-up did but changes nothing itself (endpoints check before they
change); an unexpected exception rolls the ledger back to its last write and answers -1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
from pathlib import Path

import orjson
from aiohttp import web

from perpflow.venue import auth, errors, tiers
from perpflow.venue.account_api import AccountApi
from perpflow.venue.commits import CommitFailed, GroupCommit
from perpflow.venue.drills import Drills, lost_answer
from perpflow.venue.engine import Engine
from perpflow.venue.ledger import Ledger
from perpflow.venue.orders_api import OrderApi
from perpflow.venue.params import public_query
from perpflow.venue.userstream import UserStreams

logger = logging.getLogger(__name__)
CONTROL_PATH = "/perpflow/drills"
APPLIED = "X-Perpflow-Applied"  # on drill answers: was the request applied?
_FAILED = object()  # a request rolled back by an unexpected error


def _unknown_error() -> web.Response:
    return web.json_response(
        {"code": -1000, "msg": "An unknown error occurred while processing the request."},
        status=500,
    )


def _private_routes(o: OrderApi, a: AccountApi) -> dict:
    return {
        ("POST", "/fapi/v1/order"): o.new_order, ("GET", "/fapi/v1/order"): o.get_order,
        ("DELETE", "/fapi/v1/order"): o.cancel_order, ("GET", "/fapi/v1/openOrder"): o.open_order,
        ("GET", "/fapi/v1/openOrders"): o.open_orders, ("GET", "/fapi/v1/allOrders"): o.all_orders,
        ("DELETE", "/fapi/v1/allOpenOrders"): o.cancel_all,
        ("POST", "/fapi/v1/algoOrder"): o.new_algo, ("GET", "/fapi/v1/algoOrder"): o.get_algo,
        ("DELETE", "/fapi/v1/algoOrder"): o.cancel_algo,
        ("GET", "/fapi/v1/openAlgoOrders"): o.open_algos, ("GET", "/fapi/v1/allAlgoOrders"): o.all_algos,
        ("DELETE", "/fapi/v1/algoOpenOrders"): o.cancel_all_algos,
        ("GET", "/fapi/v1/userTrades"): o.user_trades, ("GET", "/fapi/v1/income"): a.income,
        ("GET", "/fapi/v2/account"): a.account_v2, ("GET", "/fapi/v3/account"): a.account,
        ("GET", "/fapi/v2/balance"): a.balance, ("GET", "/fapi/v3/balance"): a.balance,
        ("GET", "/fapi/v2/positionRisk"): a.position_risk_v2,
        ("GET", "/fapi/v3/positionRisk"): a.position_risk_v3,
        ("POST", "/fapi/v1/leverage"): a.set_leverage, ("POST", "/fapi/v1/marginType"): a.set_margin_type,
        ("GET", "/fapi/v1/positionSide/dual"): a.position_mode,
        ("POST", "/fapi/v1/positionSide/dual"): a.set_position_mode,
        ("GET", "/fapi/v1/multiAssetsMargin"): a.multi_assets,
        ("POST", "/fapi/v1/multiAssetsMargin"): a.set_multi_assets,
        ("GET", "/fapi/v1/leverageBracket"): a.leverage_bracket,
        ("GET", "/fapi/v1/commissionRate"): a.commission_rate,
        ("GET", "/fapi/v1/symbolConfig"): a.symbol_config,
    }  # fmt: skip


class Gateway:
    """Accounts, engine, user streams and drills of one venue (see the module docstring)."""

    def __init__(self, venue, api_keys: dict[str, str], *, state: Path | None = None,
                 wallet: float = 10_000.0, maker_fee: float = 0.0002, taker_fee: float = 0.0005,
                 depth=None, drills: Drills | None = None, check_time: bool = True,
                 tick_seconds: float | None = 0.5):  # fmt: skip
        self.venue, self.keys, self.check_time = venue, dict(api_keys), check_time
        self.ledger = Ledger(Path(state) if state else None)
        self.engine = Engine(venue, self.ledger, wallet=wallet, maker_fee=maker_fee,
                             taker_fee=taker_fee, depth=depth)  # fmt: skip
        self.drills = drills or Drills()
        self.engine.drills = self.drills
        self.streams = UserStreams()
        self.engine.listening = lambda: bool(self.streams.sockets)
        self.orders, self.accounts = OrderApi(self.engine, self.drills), AccountApi(self.engine)
        self.private = _private_routes(self.orders, self.accounts)
        self.listen = {"POST": self.streams.create, "PUT": self.streams.keepalive,
                       "DELETE": self.streams.delete}  # fmt: skip
        self.tick_seconds = tick_seconds
        self._ticker: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.commits = GroupCommit(self.ledger, self.engine, self.streams.publish)
        tiers.preload()

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, app=None) -> None:
        await self.commits.start()
        if self.tick_seconds:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self, app=None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.commits.stop()
        await self.streams.drop_all()
        self.ledger.close()

    async def _tick(self) -> None:
        """Catch up now and then with no request coming in, so user streams see fills."""
        while True:
            await asyncio.sleep(self.tick_seconds)
            async with self._lock:
                try:
                    self._catch_up()
                except Exception:
                    logger.exception("venue catch-up failed; rolled back to the last commit")
                    self.commits.abort()
                    continue
            with contextlib.suppress(CommitFailed):
                await self.commits.durable()

    def _catch_up(self) -> None:
        self.engine.advance_to(self.venue.clock.now_ms())

    # --- requests --------------------------------------------------------------------------
    async def handle(self, request: web.Request, public: dict) -> web.StreamResponse:
        path = request.path
        if path == CONTROL_PATH:
            return await self._control(request)
        if self.drills.applies(path) and self.drills.config.latency_ms > 0:
            await asyncio.sleep(self.drills.config.latency_ms / 1000)
        fault = self.drills.before(path)
        if fault is not None:
            exc, headers = fault
            if exc.status >= 500:  # a gateway's 5xx: no JSON body, as a proxy in front answers
                return web.Response(text=exc.msg, status=exc.status, headers={APPLIED: "false"})
            return web.json_response(
                exc.body(), status=exc.status, headers={**headers, APPLIED: "false"}
            )
        body = await request.text() if request.can_read_body else ""
        out, refused = await self._apply(request, body, public)
        if out is _FAILED:
            return _unknown_error()
        if refused is not None:
            return web.json_response(refused.body(), status=refused.status)
        private = (request.method, path) in self.private
        if request.method != "GET" and private and self.drills.lose_answer(path):
            exc = lost_answer()
            return web.json_response(exc.body(), status=exc.status, headers={APPLIED: "true"})
        if private:  # the private answers are Binance's string-valued shapes: orjson renders them
            return web.json_response(
                text=orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            )
        return web.json_response(out)

    async def _apply(self, request: web.Request, body: str, public: dict):
        """(answer, Binance error or None) of a request once its changes are written; (_FAILED,
        None) when they were rolled back. A Binance error keeps what the catch-up did. Market
        data and listen keys do not touch the engine: they answer without a catch-up (their
        answers do not depend on it, and its outcome does not depend on when it runs)."""
        if (request.method, request.path) not in self.private:
            try:
                return self._route(request, body, public), None
            except errors.BinanceError as exc:
                return None, exc
            except Exception:
                logger.exception("venue error on %s %s", request.method, request.path_qs)
                return _FAILED, None
        async with self._lock:
            try:
                self._catch_up()
                out, refused = self._route(request, body, public), None
            except errors.BinanceError as exc:
                out, refused = None, exc
            except Exception:
                logger.exception("venue error on %s %s", request.method, request.path_qs)
                self.commits.abort()
                return _FAILED, None
        try:
            await self.commits.durable()
        except CommitFailed:
            return _FAILED, None
        return out, refused

    def _route(self, request: web.Request, body: str, public: dict):
        method, path = request.method, request.path
        fn = self.private.get((method, path))
        if fn is not None:
            query = request.raw_path.partition("?")[2]
            key, params = auth.verify(method, query, body, request.headers, self.keys,
                                      self.venue.clock.now_ms(), self.check_time)  # fmt: skip
            return fn(key, params)
        if path == "/fapi/v1/listenKey" and method in self.listen:
            return self.listen[method](auth.api_key_of(request.headers, self.keys), {})
        fn = public.get(path)
        if fn is None:
            q = request.query
            signed = "signature" in q or "X-MBX-APIKEY" in request.headers
            raise errors.unauthorized() if signed else errors.not_found(path)
        return fn(public_query(path, request.query))

    async def _control(self, request: web.Request) -> web.Response:
        """`GET` the drill settings, `POST` JSON to change them (loopback clients only)."""
        try:
            if not ipaddress.ip_address(request.remote or "0.0.0.0").is_loopback:
                return web.json_response({"error": "loopback only"}, status=403)
        except ValueError:
            return web.json_response({"error": "loopback only"}, status=403)
        out = {}
        if request.method == "POST":
            changes = await request.json()
            drop = bool(changes.get("drop_user_streams"))
            try:
                self.drills.set(**changes)
            except (TypeError, ValueError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            if drop:
                out["dropped"] = await self.streams.drop_all()
        return web.json_response({**out, "drills": dataclasses.asdict(self.drills.config),
                                  "fired": self.drills.fired})  # fmt: skip
