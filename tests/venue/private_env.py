"""A designed market and a replay-mode venue with an injected clock for the private-API tests.

The market is flat at 100,000 (BTCUSDT, 1m candles over 3 stored days) except for the candles a
test designs, so fills, triggers, funding and liquidations happen at known prices and times.
The venue replays stored 2026-05-02 from 10:00 (`T0`); tests step the clock forward.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd

from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer

KEY, SECRET = "perpflow-test-key", "perpflow-test-secret"
PAIR, SYM = "BTC/USDT:USDT", "BTCUSDT"
BASE = 100_000.0
START = pd.Timestamp("2026-05-01", tz="UTC")
T0 = pd.Timestamp("2026-05-02 10:00", tz="UTC")  # stored time the venue starts at
WALL0 = pd.Timestamp("2026-11-24 10:00", tz="UTC").timestamp()  # the fake wall clock then


class FakeClock:
    def __init__(self, t: float = WALL0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def step(self, seconds: float) -> None:
        self.t += seconds


def write_market(root: Path, bars: dict[int, tuple] | None = None, mark_basis: float = 0.0,
                 funding: float = 0.0001) -> Path:  # fmt: skip
    """A Freqtrade futures data dir: BTC 1m candles flat at BASE, `bars` = {minutes after T0:
    (open, high, low, close, volume)}; 1h mark candles at (1 + mark_basis) x the close; 8-hourly
    funding at `funding`."""
    fut = root / "futures"
    fut.mkdir(parents=True, exist_ok=True)
    dates = pd.date_range(START, periods=3 * 1440, freq="1min")
    o = np.full(len(dates), BASE)
    h, low, c, v = o.copy(), o.copy(), o.copy(), np.full(len(dates), 10.0)
    k0 = int((T0 - START).total_seconds() // 60)
    for m, (bo, bh, bl, bc, bv) in (bars or {}).items():
        o[k0 + m], h[k0 + m], low[k0 + m], c[k0 + m], v[k0 + m] = bo, bh, bl, bc, bv
    for k in range(k0 + 1, len(dates)):  # between and after designed bars: flat at the close
        if k - k0 not in (bars or {}):
            o[k] = h[k] = low[k] = c[k] = c[k - 1]
    df = pd.DataFrame({"date": dates, "open": o, "high": h, "low": low, "close": c, "volume": v})
    df.to_feather(fut / "BTC_USDT_USDT-1m-futures.feather")
    hourly = df.set_index("date").resample("1h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})  # fmt: skip
    mark = (hourly * (1 + mark_basis)).assign(volume=0.0).reset_index()
    mark.to_feather(fut / "BTC_USDT_USDT-1h-mark.feather")
    fr = pd.DataFrame({"date": pd.date_range(START, periods=9, freq="8h"), "funding_rate": funding})
    fr.to_feather(fut / "BTC_USDT_USDT-1h-funding_rate.feather")
    return root


@contextlib.contextmanager
def private_venue(datadir: Path, clock: FakeClock | None = None, **private):
    """(server, ccxt client signing on the fake clock, clock)."""
    clock = clock or FakeClock()
    private.setdefault("tick_seconds", None)
    with VenueServer(datadir, mode="replay", replay_date="2026-05-02", clock=clock,
                     api_keys={KEY: SECRET}, **private) as v:  # fmt: skip
        yield v, client(v.url, clock), clock


def client(url: str, clock: FakeClock, key: str = KEY, secret: str = SECRET) -> ccxt.binance:
    ex = ccxt.binance({**ccxt_config(url), "apiKey": key, "secret": secret})
    ex.milliseconds = lambda: int(clock.t * 1000)  # the client's clock is the venue's
    ex.load_markets()
    return ex


def ledger(v):
    return v.gateway.ledger
