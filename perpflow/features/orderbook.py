"""Order-book features: per snapshot (one fused pass over the book arrays) and per candle.

Written by hand: no maintained library computes these from L2 snapshots. The per-snapshot columns
come from one fused numba pass over the rows (`_book_kernel`, see why there); the rest are a few
NumPy array expressions, no per-snapshot Python. Books are `Book` arrays: prices and sizes of the
best `L` levels per side (level 0 = best), NaN where the book is shallower. Snapshots must be in
time order; temporal features (depth drops, cancels, refills) read only earlier snapshots.

Per snapshot (`snapshot_features`):
- `imb_10`, `imb_25`: (bid depth - ask depth) / (bid + ask) over the top 10 / 25 levels (or all
  levels the book has, if fewer), in [-1, 1];
- `imb_w`: the same with each level weighted by exp(-distance from mid / `decay_bps`);
- `micro_dev_bps`: microprice minus mid, in bps of mid;
- `vw_spread_bps`: size-weighted ask price minus size-weighted bid price over the top 10;
- `depth_bid`, `depth_ask`: size within the top 25; `depth_delta`: change of their difference
  since the previous snapshot;
- `void_bid_bps`, `void_ask_bps`: the widest price gap between adjacent levels (a thin stretch
  price would run through), in bps of mid;
- `wall_bid`, `wall_ask`: the largest level's size over the mean level size; `wall_*_bps`:
  its distance from mid;
- `cliff_bid`, `cliff_ask`: fractional drop of top-25 depth since the previous snapshot (0 when
  it grew);
- `breadth_bid`, `breadth_ask`: levels within `breadth_bps` of mid.
With trades (`trade_flow_between`): `cancel_bid/ask` (size that left the best 25 levels without
trading), `traded_bid/ask` and `refill_bid/ask` (the best level, at an unchanged price, traded
into yet as large or larger: an iceberg's signature).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVELS = 25


@dataclass(frozen=True)
class Book:
    """Snapshots as arrays: `ts` (n,) datetime64[ns] (UTC), prices and sizes (n, L)."""

    ts: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def capture_sessions(df: pd.DataFrame) -> list[pd.DataFrame]:
    """Split one symbol's snapshot rows (in file order) where `ts` jumps backwards: each piece is
    one continuous capture. Two captures in one file must never be merged into one book."""
    back = np.flatnonzero(np.diff(_ns(df["ts"])) < 0)
    cuts = np.r_[0, back + 1, len(df)]
    return [df.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def book_from_wide(df: pd.DataFrame, levels: int = LEVELS) -> Book:
    """A `Book` from one symbol's frame with `ts` and `bid_px_0, bid_sz_0, ask_px_0, ...` columns
    (the recorder's and the derived captures' layout), in time order; up to `levels` levels.
    Raises if `ts` goes backwards (several captures in one frame: split with
    `capture_sessions`) or if the frame holds several symbols."""
    if "ts" not in df.columns:
        raise ValueError(f"book frame needs a 'ts' column, got {list(df.columns)[:8]}...")
    if "symbol" in df.columns and df["symbol"].nunique() > 1:
        raise ValueError(
            f"book frame holds several symbols {sorted(df['symbol'].unique())}: pick one"
        )
    if len(pieces := capture_sessions(df)) > 1:
        row = len(pieces[0])
        raise ValueError(f"book 'ts' goes backwards at row {row} ({df['ts'].iloc[row - 1]} -> "
                         f"{df['ts'].iloc[row]}): {len(pieces)} captures in one frame; "
                         "select one with capture_sessions / --session")  # fmt: skip
    n = sum(1 for i in range(levels) if f"bid_px_{i}" in df.columns)
    if n == 0:
        raise ValueError("book frame has no bid_px_0.. columns")
    d = df.sort_values("ts", kind="stable")

    def grab(side: str, what: str) -> np.ndarray:
        return d[[f"{side}_{what}_{i}" for i in range(n)]].to_numpy(dtype="float64")

    return Book(utc_ns(d["ts"]), grab("bid", "px"), grab("bid", "sz"),
                grab("ask", "px"), grab("ask", "sz"))  # fmt: skip


def utc_ns(ts) -> np.ndarray:
    """UTC timestamps as a naive datetime64[ns] array (the `Book.ts` form)."""
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True)).tz_convert(None).as_unit("ns").to_numpy()


def _top(a: np.ndarray, k: int) -> np.ndarray:
    return a[:, : min(k, a.shape[1])]


def snapshot_features(
    book: Book, *, decay_bps: float = 10.0, breadth_bps: float = 2.0
) -> pd.DataFrame:
    """The per-snapshot columns listed in the module docstring (plus `mid`), one row per snapshot
    of `book` (RangeIndex, `ts` first). Reads each snapshot and, for `depth_delta` / `cliff_*`,
    the one before it. Computed by the fused numba kernel in `_book_kernel` (numba is imported and
    the kernel compiled or loaded from its cache on the first call, not at import). Raises
    ValueError for a side without levels, mismatched arrays, decay_bps <= 0 or breadth_bps < 0."""
    from perpflow.features._book_kernel import FLOAT_COLUMNS, INT_COLUMNS, snapshot_columns

    f, k = snapshot_columns(
        book.bid_px, book.bid_sz, book.ask_px, book.ask_sz, decay_bps, breadth_bps
    )
    frame = pd.DataFrame(f.T, columns=list(FLOAT_COLUMNS), copy=False)  # no copy: f is ours
    for name, row in zip(INT_COLUMNS, k, strict=True):  # breadth_* after cliff_* of its side
        frame.insert(frame.columns.get_loc(f"cliff_{name.split('_')[1]}") + 1, name, row)
    frame.insert(0, "ts", pd.to_datetime(book.ts, utc=True))
    return frame


def _ns(ts) -> np.ndarray:
    """Epoch nanoseconds of UTC timestamps (any datetime resolution)."""
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True)).as_unit("ns").asi8


def aggressor_is_buy(side: pd.Series) -> np.ndarray:
    """True where the aggressor bought ("buy"/"Buy"/"BUY"); raises on any other value."""
    s = pd.Series(side).astype(str).str.lower()
    bad = ~s.isin(["buy", "sell"])
    if bad.any():
        raise ValueError(f"trades 'side' must be buy or sell, got {sorted(set(s[bad]))[:5]}")
    return (s == "buy").to_numpy()


def _removed(
    prev_px: np.ndarray, prev_sz: np.ndarray, px: np.ndarray, sz: np.ndarray
) -> np.ndarray:
    """Size that left each row's levels since the previous row: for every previous level, its
    size minus the size now at the same price (0 if that price is gone from the top levels
    but could have moved out of view: only levels still inside the current price range count)."""
    same = prev_px[:, :, None] == px[:, None, :]  # (n, L, L) price matches
    now_at = np.where(same, np.nan_to_num(sz)[:, None, :], 0).sum(axis=2)
    lo, hi = np.nanmin(px, axis=1)[:, None], np.nanmax(px, axis=1)[:, None]
    inside = (prev_px >= lo) & (prev_px <= hi)
    return np.where(inside, np.clip(np.nan_to_num(prev_sz) - now_at, 0, None), 0).sum(axis=1)


def trade_flow_between(book: Book, trades: pd.DataFrame, *, chunk: int = 50_000) -> pd.DataFrame:
    """Per snapshot (from the second): traded size per side since the previous snapshot
    (`traded_bid` = sells hitting bids), cancelled resting size (`cancel_*` = removed minus
    traded, >= 0) and iceberg refills (`refill_*` 1 when the best level kept its price, was
    traded into, and shows at least its previous size). `trades` has `ts`, `amount`, `side`
    ("buy" = aggressive buyer, lifting asks)."""
    ts = _ns(book.ts)
    t_ts = _ns(trades["ts"])
    order = np.argsort(t_ts, kind="stable")
    t_ts, amt = t_ts[order], trades["amount"].to_numpy("float64")[order]
    buy = aggressor_is_buy(trades["side"])[order]
    # trades in (ts[i-1], ts[i]] belong to snapshot i
    edges = np.searchsorted(t_ts, ts, side="right")
    cum_buy, cum_sell = (
        np.r_[0, np.cumsum(np.where(buy, amt, 0))],
        np.r_[0, np.cumsum(np.where(buy, 0, amt))],
    )
    traded_ask = np.r_[np.nan, np.diff(cum_buy[edges])]
    traded_bid = np.r_[np.nan, np.diff(cum_sell[edges])]
    out = {
        "ts": pd.to_datetime(book.ts, utc=True),
        "traded_bid": traded_bid,
        "traded_ask": traded_ask,
    }
    for side, px, sz, traded in (("bid", book.bid_px, book.bid_sz, traded_bid),
                                 ("ask", book.ask_px, book.ask_sz, traded_ask)):  # fmt: skip
        px, sz = _top(px, LEVELS), _top(sz, LEVELS)
        removed = np.full(len(px), np.nan)
        for s in range(1, len(px), chunk):  # chunks bound the (n, L, L) match array
            e = min(s + chunk, len(px))
            removed[s:e] = _removed(px[s - 1 : e - 1], sz[s - 1 : e - 1], px[s:e], sz[s:e])
        out[f"cancel_{side}"] = np.clip(removed - np.nan_to_num(traded), 0, None)
        same_best = np.r_[False, px[1:, 0] == px[:-1, 0]]
        prev_best = np.r_[np.nan, sz[:-1, 0]]
        out[f"refill_{side}"] = (
            same_best & (np.nan_to_num(traded) > 0) & (sz[:, 0] >= prev_best)
        ).astype("int8")
    return pd.DataFrame(out)


MEAN_COLUMNS = ("imb_10", "imb_25", "imb_w", "micro_dev_bps", "vw_spread_bps", "void_bid_bps",
                "void_ask_bps", "wall_bid", "wall_ask", "breadth_bid", "breadth_ask")  # fmt: skip
LAST_COLUMNS = ("imb_10", "imb_25", "depth_bid", "depth_ask", "wall_bid_bps", "wall_ask_bps", "mid")
MAX_COLUMNS = ("cliff_bid", "cliff_ask", "void_bid_bps", "void_ask_bps")
SUM_COLUMNS = ("depth_delta", "traded_bid", "traded_ask", "cancel_bid", "cancel_ask",
               "refill_bid", "refill_ask")  # fmt: skip


def per_candle(snaps: pd.DataFrame, dates: pd.Series, timeframe: str) -> pd.DataFrame:
    """Aggregate snapshot rows (`ts` plus feature columns) into the candles opening at `dates`:
    snapshots with open <= ts < open + timeframe. A candle's row is knowable at its close, as
    Freqtrade's candle is. Columns: `book_<col>_mean` / `_last` / `_max` / `_sum`, the count
    `book_snapshots` and time `book_last_ts` of the last snapshot, `book_breadth_cv` (instability of breadth within the candle) and
    `book_cancel_to_trade` (cancelled over traded, both sides); NaN for candles with no book."""
    tf = pd.Timedelta(timeframe)
    opens = pd.to_datetime(dates, utc=True)
    key = pd.to_datetime(snaps["ts"], utc=True).dt.floor(tf)
    g = snaps.assign(_open=key).groupby("_open")
    have = set(snaps.columns)
    parts = {"book_snapshots": g.size(), "book_last_ts": g["ts"].max()}
    for cols, how in ((MEAN_COLUMNS, "mean"), (LAST_COLUMNS, "last"), (MAX_COLUMNS, "max"),
                      (SUM_COLUMNS, "sum")):  # fmt: skip
        for c in cols:
            if c in have:
                parts[f"book_{c}_{how}"] = getattr(g[c], how)()
    breadth = snaps["breadth_bid"] + snaps["breadth_ask"]
    bg = breadth.groupby(key)
    parts["book_breadth_cv"] = bg.std(ddof=0) / bg.mean()
    agg = pd.DataFrame(parts)
    if {"cancel_bid", "traded_bid"} <= have:
        traded = agg["book_traded_bid_sum"] + agg["book_traded_ask_sum"]
        cancelled = agg["book_cancel_bid_sum"] + agg["book_cancel_ask_sum"]
        agg["book_cancel_to_trade"] = (cancelled / traded).where(traded > 0)
    out = agg.reindex(pd.DatetimeIndex(opens))
    out.index = dates.index
    return out


def cross_venue(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Divergence of two venues' per-candle book features (same candles, `per_candle` output;
    the mid is `book_mid_last`, or `mid`): `xv_imb_diff` (top-10 imbalance a - b), `xv_mid_bps`
    (mid a over mid b, in bps), `xv_depth_ratio` (top-25 depth a / b, both sides)."""
    depth_a = a["book_depth_bid_last"] + a["book_depth_ask_last"]
    depth_b = b["book_depth_bid_last"] + b["book_depth_ask_last"]
    mid_a = a["book_mid_last"] if "book_mid_last" in a else a["mid"]
    mid_b = b["book_mid_last"] if "book_mid_last" in b else b["mid"]
    return pd.DataFrame({
        "xv_imb_diff": a["book_imb_10_last"] - b["book_imb_10_last"],
        "xv_mid_bps": (mid_a / mid_b - 1) * 1e4,
        "xv_depth_ratio": depth_a / depth_b.where(depth_b > 0),
    }, index=a.index)  # fmt: skip


def pre_open_cancel_to_trade(
    agg: pd.DataFrame, dates: pd.Series, *, minutes: int = 30
) -> pd.Series:
    """Cancel-to-trade ratio over the `minutes` before the latest London (08:00) or New York
    (09:30) open, carried until the next one: the pre-open spoofing read. Reads `per_candle`
    output (`book_cancel_*_sum`, `book_traded_*_sum`) of candles that closed before the open;
    NaN before the first open seen or when nothing traded in the window."""
    from perpflow.features.sessions import HANDOFF_OPENS

    utc = pd.to_datetime(dates, utc=True)
    cancelled = (agg["book_cancel_bid_sum"] + agg["book_cancel_ask_sum"]).fillna(0.0).to_numpy()
    traded = (agg["book_traded_bid_sum"] + agg["book_traded_ask_sum"]).fillna(0.0).to_numpy()
    in_window = np.zeros(len(utc), dtype=bool)
    window_id = np.full(len(utc), -1, dtype="int64")
    for k, (tz, open_min) in enumerate(HANDOFF_OPENS):
        local = utc.dt.tz_convert(tz)
        to_open = ((open_min - (local.dt.hour * 60 + local.dt.minute)) % 1440).to_numpy()
        w = (to_open > 0) & (to_open <= minutes)  # candles opening in [open - minutes, open)
        day = local.dt.normalize().astype("int64").to_numpy() // 86_400_000_000_000
        in_window |= w
        window_id = np.where(w, day * 2 + k, window_id)
    frame = pd.DataFrame({"id": window_id, "c": np.where(in_window, cancelled, 0.0),
                          "t": np.where(in_window, traded, 0.0)})  # fmt: skip
    sums = frame[in_window].groupby("id")[["c", "t"]].sum()
    ratio = (sums["c"] / sums["t"].where(sums["t"] > 0)).rename("ratio")
    # the reading becomes known when the window's last candle closes: the first candle after it
    last_row = frame[in_window].reset_index().groupby("id")["index"].max()
    at = (last_row + 1).to_numpy()
    known = at < len(utc)  # a window ending on the last row is not known yet
    out = np.full(len(utc), np.nan)
    out[at[known]] = ratio.reindex(last_row.index).to_numpy()[known]
    return pd.Series(pd.Series(out).ffill().to_numpy(), index=dates.index, name="book_ctt_pre_open")
