"""The local exchange's state and answers, independent of HTTP: one method per endpoint.

Reads stored series through `SeriesStore` and answers in Binance USDT-M response shapes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.venue import errors
from perpflow.venue.book import synth_book
from perpflow.venue.candles import format_klines, ohlcv_window, page_bounds
from perpflow.venue.markets import MarketBook
from perpflow.venue.params import DEPTH_LIMITS, OI_PERIODS
from perpflow.venue.series import DAY_MS, INTERVAL_MS, Clock, SeriesStore, interval_ms

logger = logging.getLogger(__name__)

FUNDING_MS = 8 * 3_600_000


class Venue:
    """A Binance USDT-M market over a Freqtrade data dir, in history or replay mode."""

    def __init__(
        self, datadir: Path, *, mode: str = "history", runway: timedelta = timedelta(days=1),
        clock: Callable[[], float] = time.time, replay_date: str | None = None,
    ):  # fmt: skip
        if mode not in ("history", "replay"):
            raise ValueError(f"mode must be 'history' or 'replay', got {mode!r}")
        self.specs = MarketBook.load(datadir)  # every market served; `specs[symbol]` its entry
        self.dated = self.specs.dated  # quarterlies found in the data dir
        self.store = SeriesStore(datadir, self.specs.file_prefix)
        self.mode = mode
        shift = 0
        if mode == "replay":
            last = self.store.last_stored_ms()
            if last is None:
                raise FileNotFoundError(f"{self.store.root}: no *-futures.feather files to replay")
            anchor = last - int(runway.total_seconds() * 1000)
            now = int(clock() * 1000)
            shift = -((anchor - now) // DAY_MS) * DAY_MS  # ceil to whole days: now maps <= anchor
            if replay_date is not None:  # that day, at the current time of day
                day = int(pd.Timestamp(replay_date, tz="UTC").normalize().value // 1_000_000)
                shift = (now // DAY_MS) * DAY_MS - day
                if now - shift > last:
                    raise ValueError(f"replay date {replay_date} at this time of day is past the "
                                     f"stored data (last candle {pd.Timestamp(last, unit='ms')})")  # fmt: skip
        self.clock = Clock(clock, shift, replay=mode == "replay")
        logger.info("venue over %s, mode %s, shift %.1f days", datadir, mode, shift / DAY_MS)

    # --- helpers -------------------------------------------------------------------------
    def spec(self, symbol: str | None) -> dict:
        if not symbol:
            raise errors.missing_param("symbol")
        if symbol not in self.specs:
            raise errors.invalid_symbol()
        return self.specs[symbol]

    def _klines(
        self, symbol, kind, interval, start, end, limit, max_limit=1500, price_dp=None
    ) -> list[list]:
        spec = self.spec(symbol)
        step = interval_ms(interval or "")
        limit = _limit(limit, 500, max_limit)
        table = self.store.source_for(symbol, kind, step, finest_only=self.clock.replay)
        if table is None:
            return []
        shift = self.clock.shift_ms
        s_now = self.clock.stored_now_ms()
        bounds = page_bounds(
            table, step, start=None if start is None else start - shift,
            end=None if end is None else end - shift, limit=limit, stored_now=s_now,
        )  # fmt: skip
        if bounds is None:
            return []
        w = ohlcv_window(table, step, bounds[0], bounds[1], s_now)
        dp = spec["pricePrecision"] if price_dp is None else price_dp
        return format_klines(w, step, shift, dp, spec["quantityPrecision"])

    def current(self, symbol: str) -> tuple[float, int] | None:
        """Last traded price and its exchange time (forming candle in replay)."""
        table = self.store.finest(symbol, "futures")
        if table is None or len(table.ts) == 0:
            return None
        s_now = self.clock.stored_now_ms()
        if s_now is None:
            return float(table.cols["close"][-1]), int(table.ts[-1] + table.tf_ms - 1)
        w = ohlcv_window(table, table.tf_ms, table.ts[0], s_now, s_now)
        if len(w["ts"]) == 0:
            return None
        return float(w["close"][-1]), self.clock.now_ms()

    # --- endpoints -----------------------------------------------------------------------
    def time(self) -> dict:
        return {"serverTime": self.clock.now_ms()}

    def exchange_info(self) -> dict:
        return self.specs.exchange_info(self.clock.now_ms())

    def klines(self, q: dict, kind: str = "futures") -> list[list]:
        return self._klines(
            q.get("symbol") or q.get("pair"), kind, q.get("interval"), _int(q, "startTime"),
            _int(q, "endTime"), _int(q, "limit"),
        )  # fmt: skip

    def premium_klines(self, q: dict) -> list[list]:
        """Premium index klines: the stored `premiumIndex` series when the datadir has one,
        else (mark - last) / last of the stored mark and futures closes."""
        symbol = q.get("symbol")
        if symbol and symbol in self.specs and self.store.timeframes(symbol, "premiumIndex"):
            return self._klines(
                symbol, "premiumIndex", q.get("interval"), _int(q, "startTime"),
                _int(q, "endTime"), _int(q, "limit"), price_dp=8,
            )  # fmt: skip
        marks = self.klines(q, kind="mark")
        if not marks:
            return []
        last = {r[0]: float(r[4]) for r in self.klines(q, kind="futures")}
        out = []
        for r in marks:
            if r[0] in last and last[r[0]] > 0:
                p = f"{float(r[4]) / last[r[0]] - 1:.8f}"
                out.append([r[0], p, p, p, p, "0", r[6], "0", 0, "0", "0", "0"])
        return out

    def funding_rate(self, q: dict) -> list[dict]:
        symbol = q.get("symbol")
        if symbol is None:
            raise errors.missing_param("symbol")
        self.spec(symbol)
        tfs = self.store.timeframes(symbol, "funding_rate")
        if not tfs:
            return []
        t = self.store.table(symbol, "funding_rate", tfs[0])
        rows = _time_rows(t.ts, self.clock, _int(q, "startTime"), _int(q, "endTime"),
                          _limit(_int(q, "limit"), 100, 1000))  # fmt: skip
        rates = t.cols["funding_rate"]
        return [
            {"symbol": symbol, "fundingTime": int(t.ts[i] + self.clock.shift_ms),
             "fundingRate": f"{rates[i]:.8f}", "markPrice": ""}
            for i in rows
        ]  # fmt: skip

    def open_interest_hist(self, q: dict) -> list[dict]:
        symbol = q.get("symbol")
        self.spec(symbol)
        period = q.get("period")
        if not period:
            raise errors.missing_param("period")
        if period not in OI_PERIODS:
            raise errors.bad_value("period")
        step = interval_ms(period)
        tfs = [tf for tf in self.store.timeframes(symbol, "open_interest") if step % tf == 0]
        if not tfs:
            return []
        t = self.store.table(symbol, "open_interest", tfs[-1])
        on_grid = np.flatnonzero(t.ts % step == 0)
        rows = _time_rows(t.ts[on_grid], self.clock, _int(q, "startTime"), _int(q, "endTime"),
                          _limit(_int(q, "limit"), 30, 500))  # fmt: skip
        amount = t.cols.get("open_interest_amount")
        value = t.cols.get("open_interest_value")
        return [
            {"symbol": symbol, "sumOpenInterest": _num(amount, on_grid[i], 8),
             "sumOpenInterestValue": _num(value, on_grid[i], 8),
             "timestamp": int(t.ts[on_grid[i]] + self.clock.shift_ms)}
            for i in rows
        ]  # fmt: skip

    def open_interest(self, q: dict) -> dict:
        hist = self.open_interest_hist({"symbol": q.get("symbol"), "period": "5m", "limit": "1"})
        if not hist:
            raise errors.BinanceError(-1130, "No open interest data for this symbol.")
        h = hist[-1]
        return {"symbol": h["symbol"], "openInterest": h["sumOpenInterest"], "time": h["timestamp"]}

    def depth(self, q: dict) -> dict:
        symbol = q.get("symbol")
        spec = self.spec(symbol)
        limit = _int(q, "limit") or 500
        if limit not in DEPTH_LIMITS:
            raise errors.bad_value("limit", f"Valid limits: {list(DEPTH_LIMITS)}.")
        bids, asks, ts = self._book(symbol, spec, limit)
        pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
        return {
            "lastUpdateId": ts, "E": ts, "T": ts,
            "bids": [[f"{p:.{pdp}f}", f"{v:.{qdp}f}"] for p, v in bids],
            "asks": [[f"{p:.{pdp}f}", f"{v:.{qdp}f}"] for p, v in asks],
        }  # fmt: skip

    def _book(self, symbol: str, spec: dict, levels: int):
        cur = self.current(symbol)
        if cur is None:
            return [], [], self.clock.now_ms()
        price, ts = cur
        tick = float(self.specs.filter_value(symbol, "PRICE_FILTER", "tickSize"))
        step = float(self.specs.filter_value(symbol, "LOT_SIZE", "stepSize"))
        min_qty = float(self.specs.filter_value(symbol, "LOT_SIZE", "minQty"))
        bids, asks = synth_book(price, tick=tick, step=step, min_qty=min_qty, levels=levels,
                                seed=ts // 1000)  # fmt: skip
        return bids, asks, ts

    def _symbols(self, q: dict) -> list[str]:
        sym = q.get("symbol")
        if sym is not None:
            self.spec(sym)
            return [sym]
        stored = self.store.stored_prefixes("futures")  # one listing, however many markets
        return [
            s for s in self.specs if s not in self.dated and self.specs.file_prefix(s) in stored
        ]

    def book_ticker(self, q: dict):
        out = []
        for s in self._symbols(q):
            spec = self.specs[s]
            bids, asks, ts = self._book(s, spec, 1)
            if not bids:
                continue
            pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
            out.append({
                "symbol": s, "bidPrice": f"{bids[0][0]:.{pdp}f}", "bidQty": f"{bids[0][1]:.{qdp}f}",
                "askPrice": f"{asks[0][0]:.{pdp}f}", "askQty": f"{asks[0][1]:.{qdp}f}",
                "time": ts, "lastUpdateId": ts,
            })  # fmt: skip
        return out[0] if "symbol" in q else out

    def ticker_price(self, q: dict):
        out = []
        for s in self._symbols(q):
            cur = self.current(s)
            if cur:
                pdp = self.specs[s]["pricePrecision"]
                out.append({"symbol": s, "price": f"{cur[0]:.{pdp}f}", "time": cur[1]})
        return out[0] if "symbol" in q and out else out

    def ticker_24hr(self, q: dict):
        out = [t for t in (self._ticker_24hr(s) for s in self._symbols(q)) if t]
        return out[0] if "symbol" in q and out else out

    def _ticker_24hr(self, symbol: str) -> dict | None:
        cur = self.current(symbol)
        if cur is None:
            return None
        spec = self.specs[symbol]
        pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
        day = self._klines(symbol, "futures", "1h", None, cur[1], 24)
        o = float(day[0][1])
        hi = max(float(r[2]) for r in day)
        lo = min(float(r[3]) for r in day)
        vol = sum(float(r[5]) for r in day)
        qvol = sum(float(r[7]) for r in day)
        last = cur[0]
        return {
            "symbol": symbol, "priceChange": f"{last - o:.{pdp}f}",
            "priceChangePercent": f"{(last / o - 1) * 100:.3f}",
            "weightedAvgPrice": f"{(qvol / vol if vol else last):.{pdp}f}",
            "lastPrice": f"{last:.{pdp}f}", "lastQty": f"{0:.{qdp}f}", "openPrice": f"{o:.{pdp}f}",
            "highPrice": f"{hi:.{pdp}f}", "lowPrice": f"{lo:.{pdp}f}", "volume": f"{vol:.{qdp}f}",
            "quoteVolume": f"{qvol:.2f}", "openTime": int(day[0][0]), "closeTime": cur[1],
            "firstId": 0, "lastId": 0, "count": len(day),
        }  # fmt: skip

    def premium_index(self, q: dict):
        out = [p for p in (self._premium(s) for s in self._symbols(q)) if p]
        return out[0] if "symbol" in q and out else out

    def _premium(self, symbol: str) -> dict | None:
        cur = self.current(symbol)
        if cur is None:
            return None
        pdp = self.specs[symbol]["pricePrecision"]
        rates = self.funding_rate({"symbol": symbol, "limit": "1"})
        now = self.clock.now_ms()
        return {
            "symbol": symbol, "markPrice": f"{cur[0]:.{pdp}f}", "indexPrice": f"{cur[0]:.{pdp}f}",
            "estimatedSettlePrice": f"{cur[0]:.{pdp}f}",
            "lastFundingRate": rates[-1]["fundingRate"] if rates else "0.00010000",
            "interestRate": "0.00010000", "nextFundingTime": (now // FUNDING_MS + 1) * FUNDING_MS,
            "time": now,
        }  # fmt: skip

    def agg_trades(self, q: dict) -> list[dict]:
        """Four synthetic trades per finest candle (open, high/low, close) in the window."""
        symbol = q.get("symbol")
        spec = self.spec(symbol)
        limit = _limit(_int(q, "limit"), 500, 1000)
        table = self.store.finest(symbol, "futures")
        if table is None:
            return []
        start, end = _int(q, "startTime"), _int(q, "endTime")
        bars = self._klines(symbol, "futures", _tf_name(table.tf_ms), start, end, limit // 4 + 1)
        qdp, pdp = spec["quantityPrecision"], spec["pricePrecision"]
        out = []
        for r in bars:
            t0, o, h, lo, c, v = r[0], *map(float, r[1:6])
            path = (o, h, lo, c) if c < o else (o, lo, h, c)
            for k, price in enumerate(path):
                tid = (t0 // 1000) * 4 + k
                out.append({"a": tid, "p": f"{price:.{pdp}f}", "q": f"{v / 4:.{qdp}f}",
                            "f": tid, "l": tid, "T": t0 + k * 1000, "m": k % 2 == 1})  # fmt: skip
        return out[-limit:]


def _tf_name(ms: int) -> str:
    for name, v in INTERVAL_MS.items():
        if v == ms:
            return name
    raise errors.bad_value("interval")


def _int(q: dict, name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise errors.bad_value(name) from None


def _limit(value: int | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if value < 1:
        raise errors.bad_value("limit")
    return min(value, maximum)


def _num(arr, i: int, dp: int) -> str:
    if arr is None or not np.isfinite(arr[i]):
        return ""
    return f"{arr[i]:.{dp}f}"


def _time_rows(ts: np.ndarray, clock: Clock, start, end, limit: int) -> range:
    """Indices of rows visible now within [start, end] (exchange times), paged like Binance."""
    shift = clock.shift_ms
    hi = len(ts)
    s_now = clock.stored_now_ms()
    if s_now is not None:
        hi = int(np.searchsorted(ts, s_now, "right"))
    if end is not None:
        hi = min(hi, int(np.searchsorted(ts, end - shift, "right")))
    lo = 0 if start is None else int(np.searchsorted(ts, start - shift, "left"))
    if start is not None:
        return range(lo, min(hi, lo + limit))
    return range(max(lo, hi - limit), hi)
