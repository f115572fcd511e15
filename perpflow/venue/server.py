"""HTTP front of the local exchange (aiohttp) on 127.0.0.1: routes, errors, background runner."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
from aiohttp import web

from perpflow.venue import errors
from perpflow.venue.fanout import SendLimits
from perpflow.venue.params import public_query
from perpflow.venue.stream import LiquidationFeed, StreamHub, is_websocket
from perpflow.venue.venue import Venue

logger = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The venue's event loop: uvloop's when installed (it comes with Freqtrade's uvicorn;
    sockets and timers in C), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


VENUE_KEY = web.AppKey("venue", Venue)
HUB_KEY = web.AppKey("hub", StreamHub)
GATEWAY_KEY = web.AppKey("gateway", object)


def _routes(v: Venue) -> dict[str, Callable[[dict], object]]:
    return {
        "/fapi/v1/ping": lambda q: {},
        "/fapi/v1/time": lambda q: v.time(),
        "/fapi/v1/exchangeInfo": lambda q: v.exchange_info(),
        "/fapi/v1/klines": lambda q: v.klines(q),
        "/fapi/v1/continuousKlines": lambda q: v.klines(q),
        "/fapi/v1/markPriceKlines": lambda q: v.klines(q, kind="mark"),
        "/fapi/v1/indexPriceKlines": lambda q: v.klines(q, kind="mark"),
        "/fapi/v1/premiumIndexKlines": lambda q: v.premium_klines(q),
        "/fapi/v1/fundingRate": lambda q: v.funding_rate(q),
        "/futures/data/openInterestHist": lambda q: v.open_interest_hist(q),
        "/fapi/v1/openInterest": lambda q: v.open_interest(q),
        "/fapi/v1/depth": lambda q: v.depth(q),
        "/fapi/v1/aggTrades": lambda q: v.agg_trades(q),
        "/fapi/v1/premiumIndex": lambda q: v.premium_index(q),
        "/fapi/v1/ticker/24hr": lambda q: v.ticker_24hr(q),
        "/fapi/v1/ticker/price": lambda q: v.ticker_price(q),
        "/fapi/v2/ticker/price": lambda q: v.ticker_price(q),
        "/fapi/v1/ticker/bookTicker": lambda q: v.book_ticker(q),
    }


def _feed(venue: Venue, liquidations: pd.DataFrame | None, speed: float | None):
    """Replay mode keeps stored liquidations on the candles' shifted clock; otherwise (or with an
    explicit `speed`) they replay from the first subscription."""
    if liquidations is None or liquidations.empty:
        return None
    if venue.clock.replay and speed is None:
        return LiquidationFeed(liquidations, start_ms=venue.clock.shift_ms, anchor_ms=0)
    return LiquidationFeed(liquidations, speed=speed or 1.0)


def _gateway(venue: Venue, api_keys, depth, private, ws_limits: SendLimits | None):
    """The private side when the venue has API keys (else None)."""
    if not api_keys:
        return None
    from perpflow.venue.gateway import Gateway

    gateway = Gateway(venue, api_keys, depth=depth, **(private or {}))
    if ws_limits is not None:
        gateway.streams.limits = ws_limits
    return gateway


def _attach(app: web.Application, gateway) -> None:
    if gateway is not None:
        app[GATEWAY_KEY] = gateway
        app.on_startup.append(gateway.start)
        app.on_shutdown.append(gateway.stop)


async def _websocket(request: web.Request, hub: StreamHub, gateway) -> web.StreamResponse:
    """A user-data connection (listen key) goes to the gateway, anything else to the hub."""
    lk = gateway.streams.listen_key_of(request) if gateway is not None else None
    return await (gateway.streams.handle(request, lk) if lk is not None else hub.handle(request))


def build_app(
    datadir: Path, *, mode: str = "history", runway: timedelta = timedelta(days=1),
    clock: Callable[[], float] = time.time, liquidations: pd.DataFrame | None = None,
    liquidation_speed: float | None = None, replay_date: str | None = None, depth=None,
    api_keys: dict[str, str] | None = None, private: dict | None = None,
    ws_limits: SendLimits | None = None,
) -> web.Application:  # fmt: skip
    """The aiohttp application answering Binance USDT-M REST calls from `datadir`, and the
    market websocket replaying `liquidations` (perpflow store records) as forceOrder streams
    and `depth` (a `perpflow.venue.depth.DepthFeed`) as `<symbol>@depth` diff streams, whose
    books also answer REST depth for their symbols.

    With `api_keys` ({key: secret}) the venue also serves the signed private API, its matching
    engine and the user-data stream (`perpflow.venue.gateway.Gateway`; `private` passes its
    options: state, wallet, maker_fee, taker_fee, drills, check_time, tick_seconds).

    Every parameter of a market-data request is checked first (`perpflow.venue.params`:
    Binance's -1100/-1101/-1102/-1130/-1120/-1023 errors); every websocket connection has a
    bounded send queue, cut when it falls behind `ws_limits` (`perpflow.venue.fanout`)."""
    venue = Venue(datadir, mode=mode, runway=runway, clock=clock, replay_date=replay_date)
    routes = _routes(venue)
    hub = StreamHub(_feed(venue, liquidations, liquidation_speed), clock=clock, depth=depth,
                    limits=ws_limits)  # fmt: skip
    if depth is not None:
        rest_depth = routes["/fapi/v1/depth"]

        def replayed_depth(q: dict) -> dict:
            sym = str(q.get("symbol", "")).upper()
            if sym not in depth.books:
                return rest_depth(q)
            hub.start_depth()
            return depth.snapshot(sym, int(q.get("limit") or 500))

        routes["/fapi/v1/depth"] = replayed_depth

    gateway = _gateway(venue, api_keys, depth, private, ws_limits)

    async def handle(request: web.Request) -> web.StreamResponse:
        if is_websocket(request):
            return await _websocket(request, hub, gateway)
        if gateway is not None:
            return await gateway.handle(request, routes)
        q = request.query
        try:
            fn = routes.get(request.path)
            if fn is None:
                signed = "signature" in q or "X-MBX-APIKEY" in request.headers
                raise errors.unauthorized() if signed else errors.not_found(request.path)
            body = fn(public_query(request.path, q))
            return web.json_response(body)
        except errors.BinanceError as exc:
            return web.json_response(exc.body(), status=exc.status)
        except Exception:  # a bug, not bad input: log it, answer like Binance does
            logger.exception("venue error on %s %s", request.path, q)
            return web.json_response(
                {"code": -1000, "msg": "An unknown error occurred while processing the request."},
                status=500,
            )

    async def _close_hub(app: web.Application) -> None:
        await hub.close()

    app = web.Application()
    app[VENUE_KEY] = venue
    app[HUB_KEY] = hub
    app.on_shutdown.append(_close_hub)
    _attach(app, gateway)
    known = set(routes) | {path for _, path in getattr(gateway, "private", {})}
    for path in sorted(known):  # found by one dict look-up; anything else by the catch-all
        app.router.add_route("*", path, handle)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class VenueServer:
    """Run the venue in a background thread: `with VenueServer(dir, port=0) as v: v.url`."""

    def __init__(
        self, datadir: Path, *, mode: str = "history", host: str = "127.0.0.1", port: int = 0,
        runway: timedelta = timedelta(days=1), clock: Callable[[], float] = time.time,
        liquidations: pd.DataFrame | None = None, liquidation_speed: float | None = None,
        replay_date: str | None = None, depth=None, api_keys: dict[str, str] | None = None,
        ws_limits: SendLimits | None = None, **private,
    ):  # fmt: skip
        """`api_keys`, `ws_limits` and `private` (state, wallet, maker_fee, taker_fee, drills,
        check_time, tick_seconds): see `build_app`."""
        self.app = build_app(
            Path(datadir), mode=mode, runway=runway, clock=clock, liquidations=liquidations,
            liquidation_speed=liquidation_speed, replay_date=replay_date, depth=depth,
            api_keys=api_keys, private=private, ws_limits=ws_limits,
        )  # fmt: skip
        self.host, self.port = host, port
        self._loop = new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def venue(self) -> Venue:
        return self.app[VENUE_KEY]

    @property
    def hub(self) -> StreamHub:
        return self.app[HUB_KEY]

    @property
    def gateway(self):
        """The private side (`perpflow.venue.gateway.Gateway`), None without API keys."""
        return self.app.get(GATEWAY_KEY)

    @property
    def drills(self):
        """The fault drills (`gateway.drills.set(...)` from tests)."""
        return self.gateway.drills

    def call(self, fn, *args):
        """Run `fn(*args)` on the venue's event loop (thread-safe access to the engine)."""

        async def _run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(_run(), self._loop).result(30)

    def drop_user_streams(self) -> int:
        fut = asyncio.run_coroutine_threadsafe(self.gateway.streams.drop_all(), self._loop)
        return fut.result(10)

    def drop_streams(self) -> int:
        """Close every websocket connection now (a dropped connection, for tests and drills)."""
        fut = asyncio.run_coroutine_threadsafe(self.hub.drop_all(), self._loop)
        return fut.result(10)

    def start(self) -> VenueServer:
        started = threading.Event()

        async def _start():
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 (ephemeral port)

        def _run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(_start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=_run, name="perpflow-venue", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("local exchange did not start within 30 s")
        logger.info("local exchange listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> VenueServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    datadir: Path, *, host: str = "127.0.0.1", port: int = 8999, mode: str = "history",
    runway_days: float = 1.0, liquidations: pd.DataFrame | None = None,
    liquidation_speed: float | None = None, depth=None, api_keys: dict[str, str] | None = None,
    private: dict | None = None,
) -> None:  # fmt: skip
    """Serve until Ctrl-C (the `perpflow venue serve` command)."""
    app = build_app(
        Path(datadir), mode=mode, runway=timedelta(days=runway_days), liquidations=liquidations,
        liquidation_speed=liquidation_speed, depth=depth, api_keys=api_keys, private=private,
    )  # fmt: skip
    gc.freeze()  # what start-up built (modules, tables) stays out of the collections of requests
    print(f"perpflow local exchange ({mode}) on http://{host}:{port}  data: {datadir}")
    print(f"point Freqtrade at it with: perpflow config overlay --venue-url http://{host}:{port}")
    web.run_app(app, host=host, port=port, print=None, access_log=None, loop=new_event_loop())
