"""SYNTHETIC recorded order books for the demo market, so `filters.book` (and its cross-venue
gate) can be tried in a backtest without weeks of `perpflow record`.

Per pair, exchange and 1m demo candle: three `book` records (at +1 s, +21 s, +41 s), 25 levels a
side 1 bp apart around the minute's open (known when the minute starts: no look-ahead), sizes
from a gamma draw tilted by a slowly wandering bid/ask imbalance. The imbalance is noise: it
carries no information about later prices, so the filter can only remove trades here. A second
exchange gets its own tilt and a mid a fraction of a bp off. Written with the event store's
atomic writes under `<datadir>/store` (or `store`); partitions already there are never rewritten.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.files import read_required
from perpflow.data.store import write_events

LEVELS = 25
OFFSETS_S = (1, 21, 41)


def _tilt(rng: np.random.Generator, n: int, halflife: int = 240) -> np.ndarray:
    """A slowly wandering imbalance tilt in about [-1, 1] (EWM of white noise, rescaled)."""
    walk = pd.Series(rng.normal(0, 1, n)).ewm(halflife=halflife).mean().to_numpy()
    return np.clip(walk / (walk.std() or 1.0) * 0.5, -1.5, 1.5)


def book_rows(candles_1m: pd.DataFrame, *, exchange: str, symbol: str, seed: int,
              mid_offset_bps: float = 0.0) -> pd.DataFrame:  # fmt: skip
    """The wide `book` records (as `perpflow record` writes them) for these 1m candles."""
    rng = np.random.default_rng(seed)
    opens = pd.DatetimeIndex(pd.to_datetime(candles_1m["date"], utc=True)).as_unit("ns").asi8
    k = len(OFFSETS_S)
    ts = np.repeat(opens, k) + np.tile(
        np.asarray(OFFSETS_S, dtype="int64") * 1_000_000_000, len(opens)
    )
    mid = np.repeat(candles_1m["open"].to_numpy("float64"), k) * (1 + mid_offset_bps / 1e4)
    n = len(mid)
    tilt = _tilt(rng, n)[:, None]
    steps = 1e-4 * (np.arange(LEVELS) + 0.5)
    cols: dict[str, object] = {"exchange": exchange, "symbol": symbol, "ts_event": pd.to_datetime(ts, unit="ns", utc=True),
                               "ts_recv": pd.to_datetime(ts, unit="ns", utc=True), "nonce": np.arange(1, n + 1)}  # fmt: skip
    bid_sz = np.round(rng.gamma(2.0, 1.0, (n, LEVELS)) * np.exp(tilt), 4)
    ask_sz = np.round(rng.gamma(2.0, 1.0, (n, LEVELS)) * np.exp(-tilt), 4)
    for i in range(LEVELS):
        cols[f"bid_px_{i}"] = mid * (1 - steps[i])
        cols[f"bid_sz_{i}"] = bid_sz[:, i]
        cols[f"ask_px_{i}"] = mid * (1 + steps[i])
        cols[f"ask_sz_{i}"] = ask_sz[:, i]
    return pd.DataFrame(cols)


def write_demo_books(datadir: Path, pairs: list[str], *, start: str, end: str,
                     exchanges: tuple[str, ...] = ("binance", "bybit"), store: Path | None = None,
                     seed: int = 0) -> int:  # fmt: skip
    """Write SYNTHETIC books for `pairs` on `exchanges` over [start, end) (UTC) from the demo's
    1m candles; returns the records written."""
    root = Path(store) if store is not None else Path(datadir) / "store"
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    if hi <= lo:
        raise ValueError(f"demo books: end {end} is not after start {start}")
    total = 0
    for p, pair in enumerate(pairs):
        candles = read_required(datadir, pair, "1m-futures")
        dates = pd.to_datetime(candles["date"], utc=True)
        window = candles[(dates >= lo) & (dates < hi)]
        if window.empty:
            raise ValueError(f"demo books: no 1m candles of {pair} in {start}..{end} in {datadir}")
        symbol = pair.split(":")[0].replace("/", "")
        for e, exchange in enumerate(exchanges):
            rows = book_rows(window, exchange=exchange, symbol=symbol, seed=seed + 100 * p + e,
                             mid_offset_bps=0.3 * e)  # fmt: skip
            write_events(root, "book", rows, time_col="ts_recv")
            total += len(rows)
    return total
