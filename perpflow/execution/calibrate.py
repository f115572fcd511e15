"""Calibrate a `SlippageModel` from recorded books, and the causal per-candle model inputs.

Books come from the event store's `book` records (`perpflow.data.readers.book_snapshots`) or
from a derived top-N parquet like the real captures in ../shared/data (one row per book update,
columns `ts`, `symbol`, `bid_px_0, bid_sz_0, ask_px_0, ...`; a file may hold several captures of
one symbol, split where `ts` goes back and never merged). Update streams are sampled on a
`cadence_s` grid (the book as it stood at each grid time: the last update at or before it), so a
busy second does not weigh more than a quiet one; store records, already sampled by the
recorder, are taken as they are unless a cadence is given.

`model_inputs` turns candles into the per-candle inputs of `SlippageModel.cost` (causal).

Per snapshot (vectorised over (snapshots, levels) arrays): spread in bps of mid, the best
level's quote notional per side, quote notional within each grid distance of mid (NaN where the
distance lies beyond the deepest recorded level of a book that filled all its recorded levels:
censored, not zero) and the reach (distance of the deepest level). Snapshots are grouped by NY
session block of their time and summarised as quantiles (`perpflow.execution.profile`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.execution.profile import DEFAULT_GRID_BPS, QUANTILES, Profile
from perpflow.execution.slippage import DEFAULT_MIN_SNAPSHOTS, SlippageModel
from perpflow.features.orderbook import Book, book_from_wide, capture_sessions, utc_ns
from perpflow.features.sessions import SESSION_NAMES, ny_session_block

logger = logging.getLogger(__name__)
MAX_LEVELS = 1000  # read every recorded level (book_from_wide's default stops at 25)
MIN_OBSERVED_SHARE = 0.5  # a grid point seen in fewer snapshots than this share is left out


def sample_every(capture: pd.DataFrame, cadence_s: float) -> pd.DataFrame:
    """One capture's update rows (time order) as the book stood at each multiple of
    `cadence_s` seconds from its first update to its last; `ts` = the grid time."""
    ts = utc_ns(capture["ts"]).astype("int64")
    step = int(round(cadence_s * 1e9))
    grid = np.arange(-(-ts[0] // step) * step, ts[-1] + 1, step)
    idx = np.searchsorted(ts, grid, side="right") - 1
    out = capture.iloc[idx].copy()
    out["ts"] = pd.to_datetime(grid, unit="ns", utc=True)
    return out.reset_index(drop=True)


def _side_stats(px: np.ndarray, sz: np.ndarray, mid: np.ndarray,
                grid: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """Touch notional (n,), depth within grid (n, G) (NaN where censored), reach and the
    notional of all recorded levels (n,)."""
    valid = np.isfinite(px) & np.isfinite(sz) & (sz > 0)
    notional = np.where(valid, px * sz, 0.0)
    dist = np.where(valid, np.abs(px / mid[:, None] - 1) * 1e4, np.inf)
    reach = np.where(valid, dist, -np.inf).max(axis=1)
    full = valid[:, -1]  # all recorded levels filled: the book may go on beyond them
    depth = np.stack([(notional * (dist <= d)).sum(axis=1) for d in grid], axis=1)
    depth[full[:, None] & (reach[:, None] < grid[None, :])] = np.nan
    return {
        "touch": notional[:, 0],
        "depth": depth,
        "reach": reach,
        "visible": notional.sum(axis=1),
    }


def snapshot_stats(book: Book, grid=DEFAULT_GRID_BPS) -> dict[str, np.ndarray]:
    """Per snapshot of `book`: `ts`, `spread_bps` and per side `{side}_touch`, `{side}_depth`
    (n, G), `{side}_reach`; crossed, locked or one-sided snapshots are dropped (logged)."""
    bb, ba = book.bid_px[:, 0], book.ask_px[:, 0]
    ok = np.isfinite(bb) & np.isfinite(ba) & (bb < ba)
    if (bad := int((~ok).sum())) > 0:
        logger.warning(
            "%d of %d book snapshots crossed, locked or one-sided: left out", bad, len(ok)
        )
    mid = (bb[ok] + ba[ok]) / 2
    g = np.asarray(grid, dtype="float64")
    out = {"ts": book.ts[ok], "spread_bps": (ba[ok] - bb[ok]) / mid * 1e4}
    for side, px, sz in (("bid", book.bid_px, book.bid_sz), ("ask", book.ask_px, book.ask_sz)):
        for k, v in _side_stats(px[ok], sz[ok], mid, g).items():
            out[f"{side}_{k}"] = v
    return out


def _pct(a: np.ndarray) -> np.ndarray:
    return np.percentile(a, QUANTILES, axis=0)


def _depth_quantiles(depth: np.ndarray) -> np.ndarray:
    """(3, G) p10/p50/p90 over the observed snapshots of each grid point; NaN where fewer
    than MIN_OBSERVED_SHARE of the snapshots observe it."""
    seen = np.isfinite(depth).mean(axis=0) >= MIN_OBSERVED_SHARE
    out = np.full((len(QUANTILES), depth.shape[1]), np.nan)
    if seen.any():
        out[:, seen] = np.nanpercentile(depth[:, seen], QUANTILES, axis=0)
    # quantiles over different censored subsets need not rise with distance: make them
    return np.where(np.isnan(out), np.nan, np.fmax.accumulate(out, axis=1))


def profile_of(symbol: str, block: str, s: dict[str, np.ndarray], captures: int,
               grid=DEFAULT_GRID_BPS) -> Profile:  # fmt: skip
    """The `Profile` of snapshot stats `s` (all of one symbol and block)."""
    ts = pd.to_datetime(s["ts"], utc=True)
    return Profile(
        symbol=symbol, block=block, snapshots=len(ts), captures=captures,
        first_ts=ts.min().isoformat(), last_ts=ts.max().isoformat(),
        grid_bps=np.asarray(grid, dtype="float64"), spread_bps=_pct(s["spread_bps"]),
        touch={side: _pct(s[f"{side}_touch"]) for side in ("bid", "ask")},
        depth={side: _depth_quantiles(s[f"{side}_depth"]) for side in ("bid", "ask")},
        reach_bps={side: float(np.median(s[f"{side}_reach"])) for side in ("bid", "ask")},
        visible={side: _pct(s[f"{side}_visible"]) for side in ("bid", "ask")},
    )  # fmt: skip


def calibrate(captures: list[tuple[str, pd.DataFrame]], *, exchange: str, grid=DEFAULT_GRID_BPS,
              min_snapshots: int = DEFAULT_MIN_SNAPSHOTS, cadence_s: float | None = None,
              source: str = "") -> SlippageModel:  # fmt: skip
    """A model from `captures`: (exchange symbol, one continuous capture's wide book rows)
    pairs, each sampled every `cadence_s` seconds if given; one profile per symbol and NY
    session block the snapshots fall in."""
    per_symbol: dict[str, list[dict]] = {}
    for symbol, rows in captures:
        if cadence_s is not None and len(rows):
            rows = sample_every(rows, cadence_s)
        if len(rows):
            book = book_from_wide(rows, levels=MAX_LEVELS)
            per_symbol.setdefault(symbol, []).append(snapshot_stats(book, grid))
    profiles = []
    for symbol, parts in per_symbol.items():
        s = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        blocks = ny_session_block(pd.Series(pd.to_datetime(s["ts"], utc=True))).map(SESSION_NAMES)
        for block in pd.unique(blocks):
            sel = (blocks == block).to_numpy()
            profiles.append(profile_of(symbol, block, {k: v[sel] for k, v in s.items()},
                                       len(parts), grid))  # fmt: skip
    return SlippageModel(profiles, exchange=exchange, grid_bps=grid, min_snapshots=min_snapshots,
                         cadence_s=cadence_s, source=source)  # fmt: skip


def parquet_captures(
    path: str | Path, symbols: list[str] | None = None
) -> list[tuple[str, pd.DataFrame]]:
    """(symbol, capture rows) of a derived top-N book parquet (layout in the module docstring),
    each capture separately; `symbols` restricts them (exchange ids, e.g. BTCUSDT)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: book parquet not found")
    df = pd.read_parquet(path)
    missing = {"ts", "symbol", "bid_px_0", "bid_sz_0", "ask_px_0", "ask_sz_0"} - set(df.columns)
    if missing:
        raise UserError(f"{path}: not a wide book file, missing columns {sorted(missing)}")
    if symbols:
        df = df[df["symbol"].isin(symbols)]
        if df.empty:
            raise UserError(f"{path}: no rows for {symbols}")
    return [
        (str(sym), cap) for sym, g in df.groupby("symbol", sort=True) for cap in capture_sessions(g)
    ]


def store_captures(root: str | Path, exchange: str,
                   symbols: list[str] | None = None) -> list[tuple[str, pd.DataFrame]]:  # fmt: skip
    """(symbol, snapshot rows) of the event store's `book` records on `exchange`, one entry per
    symbol (all symbols stored when `symbols` is None)."""
    from perpflow.data.readers import book_snapshots

    folder = Path(root) / "book" / f"exchange={exchange}"
    if symbols is None:
        symbols = sorted(p.name.split("=", 1)[1] for p in folder.glob("symbol=*"))
    out = [(sym, book_snapshots(Path(root), exchange, sym)) for sym in symbols]
    out = [(sym, rows) for sym, rows in out if len(rows)]
    if not out:
        raise UserError(f"{folder}: no recorded book records for {symbols or 'any symbol'}; "
                        "record with `perpflow record` or try `perpflow data demo-books`")  # fmt: skip
    return out


def model_inputs_warmup(timeframe: str, block_window: str = "7D") -> int:
    """Candles of `timeframe` `model_inputs` reads back from t: its longest window + 1."""
    return -(-pd.Timedelta(block_window) // pd.Timedelta(timeframe)) + 1


def model_inputs(candles: pd.DataFrame, timeframe: str, *, sigma_window: str = "1D",
                 block_window: str = "7D", min_candles: int = 12) -> pd.DataFrame:  # fmt: skip
    """Per-candle inputs of `SlippageModel.cost` for an order placed when candle t closes
    (`date` + `timeframe`), indexed like `candles` (date, high, low, close, volume):

    - `session_block`: NY session block name of the decision time (the candle's close);
    - `ex_sigma_bps_1s`: std of 1-candle log returns over the trailing `sigma_window` (all
      candles, at least `min_candles`), in bps scaled to one second (/ sqrt(candle seconds));
    - `ex_range_bps`, `ex_quote_volume`: mean (high - low) / close in bps and mean volume x
      close of the candles of THAT block within the trailing `block_window` (calendar time; at
      least `min_candles` of them), as of candle t: a block's liquidity, not the last hours'.

    Reads rows <= t only (trailing windows end at t), so values never change when later rows
    are added."""
    from freqtrade.exchange import timeframe_to_seconds

    step = timeframe_to_seconds(timeframe)
    date = pd.DatetimeIndex(pd.to_datetime(candles["date"], utc=True))
    close = candles["close"].to_numpy("float64")
    x = pd.DataFrame({"ret": np.log(close), "range": (candles["high"].to_numpy("float64")
                      - candles["low"].to_numpy("float64")) / close * 1e4,
                      "qv": candles["volume"].to_numpy("float64") * close}, index=date)  # fmt: skip
    x["ret"] = x["ret"].diff()
    sigma = x["ret"].rolling(sigma_window, min_periods=min_candles).std() * 1e4 / np.sqrt(step)
    own = ny_session_block(pd.Series(date)).map(SESSION_NAMES).to_numpy()
    decide = ny_session_block(pd.Series(date + pd.Timedelta(seconds=step))).map(SESSION_NAMES)
    decide = decide.to_numpy()
    out = {"session_block": decide, "ex_sigma_bps_1s": sigma.to_numpy()}
    for col, name in (("range", "ex_range_bps"), ("qv", "ex_quote_volume")):
        per_block = {b: x[col].where(own == b).rolling(block_window, min_periods=min_candles)
                     .mean().to_numpy() for b in SESSION_NAMES.values()}  # fmt: skip
        out[name] = np.select([decide == b for b in per_block], list(per_block.values()), np.nan)
    return pd.DataFrame(out, index=candles.index)
