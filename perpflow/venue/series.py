"""Stored series of a Freqtrade futures data dir, served in exchange time.

Reads `<datadir>/futures/<BASE>_USDT_USDT-<tf>-<type>.feather` lazily (one load per file) and
keeps int64 millisecond arrays. `Clock` maps stored time to exchange time: in history mode the
shift is 0; in replay mode it is a whole number of days (sessions and 8h funding stay aligned)
chosen so that stored `anchor` is "now", and only data up to now is visible.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.venue.errors import BinanceError, bad_value, invalid_interval

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": DAY_MS,
}  # fmt: skip
_TF_RE = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}


def interval_ms(interval: str) -> int:
    """Milliseconds of a Binance kline interval, or Binance's -1120 error."""
    if interval not in INTERVAL_MS:
        raise invalid_interval()
    return INTERVAL_MS[interval]


def tf_ms(tf: str) -> int | None:
    m = _TF_RE.match(tf)
    return int(m.group(1)) * _UNIT_MS[m.group(2)] if m else None


@dataclass(frozen=True)
class Table:
    """One stored file as arrays: `ts` (int64 ms, sorted, unique) and named float columns."""

    tf_ms: int
    ts: np.ndarray
    cols: dict[str, np.ndarray]

    def window(self, start: int, end: int) -> slice:
        """Rows with start <= ts <= end."""
        return slice(
            np.searchsorted(self.ts, start, "left"), np.searchsorted(self.ts, end, "right")
        )


def _read_table(path: Path, tf: int, kind: str) -> Table:
    df = pd.read_feather(path)
    if "date" not in df.columns:
        raise ValueError(f"{path}: no 'date' column; not a Freqtrade data file")
    if kind == "funding_rate" and "funding_rate" not in df.columns:
        df = df.rename(columns={"open": "funding_rate"})
    ts = pd.to_datetime(df["date"], utc=True).astype("datetime64[ms, UTC]").astype("int64")
    ts = ts.to_numpy()
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    dup = np.r_[False, ts[1:] == ts[:-1]]
    if dup.any():
        logger.warning("%s: %d duplicate timestamps; serving the last of each", path, dup.sum())
    keep = ~np.r_[ts[1:] == ts[:-1], False]
    cols = {
        c: df[c].to_numpy(dtype="float64")[order][keep]
        for c in df.columns
        if c != "date" and pd.api.types.is_numeric_dtype(df[c])
    }
    return Table(tf, ts[keep], cols)


class Clock:
    """Exchange time: wall clock (ms) and the stored-to-exchange shift."""

    def __init__(self, clock: Callable[[], float] = time.time, shift_ms: int = 0, replay=False):
        self._clock = clock
        self.shift_ms = shift_ms
        self.replay = replay

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def stored_now_ms(self) -> int | None:
        """The stored instant that is "now" (None in history mode: everything is visible)."""
        return self.now_ms() - self.shift_ms if self.replay else None


def replay_shift_ms(anchor_ms: int, now_ms: int) -> int:
    """Whole-day shift that maps stored `anchor_ms` to at most one day before `now_ms`."""
    return ((now_ms - anchor_ms) // DAY_MS) * DAY_MS


class SeriesStore:
    """Lazy, thread-safe access to the stored tables of a data dir; `file_prefix` maps a symbol
    id to its files' prefix (the venue's `MarketBook.file_prefix`)."""

    def __init__(self, datadir: Path, file_prefix: Callable[[str], str]):
        self.root = Path(datadir) / "futures"
        self.file_prefix = file_prefix
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"{self.root} does not exist: point --datadir at a Freqtrade data dir with a "
                "futures/ folder (e.g. build one with `perpflow demo-data`)"
            )
        self._cache: dict[tuple[str, str, int], Table] = {}
        self._lock = threading.Lock()

    def timeframes(self, symbol: str, kind: str) -> list[int]:
        """Stored timeframes (ms, ascending) of `kind` for `symbol`."""
        return sorted(self._files(symbol, kind))

    def _files(self, symbol: str, kind: str) -> dict[int, Path]:
        """Stored files of `kind` for `symbol` by timeframe (ms)."""
        prefix = self.file_prefix(symbol)
        out = {}
        for p in self.root.glob(f"{prefix}-*-{kind}.feather"):
            tf = tf_ms(p.name[len(prefix) + 1 : -len(f"-{kind}.feather")])
            if tf:
                out[tf] = p
        return out

    def stored_prefixes(self, kind: str) -> set[str]:
        """File prefixes (`BTC_USDT_USDT`, `BTC_USDT_USDT-260626`) with stored `kind` files, from
        one directory listing."""
        out = set()
        for p in self.root.glob(f"*-{kind}.feather"):
            prefix, _, tf = p.name[: -len(f"-{kind}.feather")].rpartition("-")
            if prefix and tf_ms(tf):
                out.add(prefix)
        return out

    def table(self, symbol: str, kind: str, tf: int) -> Table:
        key = (symbol, kind, tf)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = _read_table(self._files(symbol, kind)[tf], tf, kind)
            return self._cache[key]

    def finest(self, symbol: str, kind: str) -> Table | None:
        tfs = self.timeframes(symbol, kind)
        return self.table(symbol, kind, tfs[0]) if tfs else None

    def source_for(self, symbol: str, kind: str, step: int, *, finest_only: bool) -> Table | None:
        """The table to build `step`-ms candles from: the coarsest stored divisor of `step`."""
        tfs = [tf for tf in self.timeframes(symbol, kind) if step % tf == 0]
        if not tfs:
            if self.timeframes(symbol, kind):
                finest = self.timeframes(symbol, kind)[0] // 60_000
                raise bad_value("interval", f"Finest stored {kind} data is {finest}m.")
            return None
        return self.table(symbol, kind, tfs[0] if finest_only else tfs[-1])

    def last_stored_ms(self) -> int | None:
        """Open time of the last stored futures candle over all files (None if there are none)."""
        last = None
        for p in self.root.glob("*-futures.feather"):
            ts = pd.read_feather(p, columns=["date"])["date"]
            if len(ts):
                v = int(pd.Timestamp(ts.max()).value // 1_000_000)
                last = v if last is None else max(last, v)
        return last


def ensure(cond: bool, err: BinanceError) -> None:
    if not cond:
        raise err
