"""Event detection for the event study: every read perpflow's features emit, as event rows.

Events come from the feature frame LiquiditySweep builds (`populate_sweep_indicators`, config
defaults, nothing tuned) plus recorded books and trades where the event store has them. Every
event at row t reads rows <= t only (it is known at the close of candle t). The event table is a
contract (`EVENT_COLUMNS`): `pair`, `date` (open time of the event candle, UTC), `event`, `dir`
(int8: +1 the move that made the event was up, -1 down, 0 none), `block` (New York session
block of the candle, `perpflow.features.sessions`) and `vol_decile` (int8 0..9, see
`vol_decile`). Events before the volatility decile is known (its first trailing window) are
dropped, logged.

Event grammar (names):
- `sweep_{low|high}_{swing|pool}_{shallow|mid|deep}`: wick through a confirmed swing level or a
  live equal-highs/lows pool and a close back inside, by depth beyond the level in ATR
  (`DEPTH_SHALLOW` and the config's `sweep.max_depth_atr` split the buckets);
- `fvg_{bull|bear}_new` (a gap formed), `fvg_{bull|bear}_fill` (the latest gap fully filled);
- `va_reclaim_{low|high}`, `session_va_reclaim_{low|high}`: a close back inside the rolling or
  the session value area after a close outside it;
- `funding_extreme_{high|low}`: funding z enters beyond +-`filters.funding.z_extreme`;
- `oi_{up|down}_px_{up|down}`: entry into an OI regime (`OI_REGIMES` 1..4);
- `liq_cluster_{longs|shorts|mixed}`: first candle of a liquidation cluster, by the side that
  dominated (`filters.liquidations.min_dominance`);
- `open_run_{low|high}`: a swing or pool sweep in the first hour of a session block;
- `book_imb_{bid|ask}`, `book_void_{bid|ask}`, `flow_{buy|sell}`: recorded books' top-10
  imbalance crossing `filters.book.min_imbalance`, a void wider than `filters.book.max_void_bps`
  appearing, the candle's aggressor imbalance changing sign (only where the store has them).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.files import read_optional, read_required
from perpflow.data.readers import exchange_symbol, load_books, recorded_trades
from perpflow.features.sessions import NY_TZ, SESSION_BLOCKS, SESSION_NAMES
from perpflow.strategy.sweep_signals import populate_sweep_indicators

logger = logging.getLogger(__name__)

EVENT_COLUMNS = ("pair", "date", "event", "dir", "block", "vol_decile")
DEPTH_SHALLOW = 0.5  # ATR: a wick less than half an ATR beyond the level is a shallow sweep
VOL_WINDOW = pd.Timedelta(days=30)  # trailing window ranking ATR / close into deciles
OI_EVENTS = {1: ("oi_up_px_up", 1), 2: ("oi_up_px_down", -1), 3: ("oi_down_px_up", 1),
             4: ("oi_down_px_down", -1)}  # fmt: skip


def vol_decile(close: pd.Series, atr: pd.Series, *, timeframe: str,
               window: pd.Timedelta = VOL_WINDOW) -> pd.Series:  # fmt: skip
    """Decile (0..9, float, NaN until a full window) of ATR / close within the trailing `window`
    of candles including t (reads rows t-window+1..t)."""
    w = int(window // pd.Timedelta(timeframe))
    natr = (atr / close).astype("float64")
    pct = natr.rolling(w, min_periods=w).rank(pct=True)
    return (np.ceil(pct * 10) - 1).clip(0, 9).rename("vol_decile")


def _runs_start(mask: pd.Series | np.ndarray) -> np.ndarray:
    """True on the first row of each run of True."""
    m = np.asarray(pd.Series(mask).fillna(False), dtype=bool)
    return m & ~np.r_[False, m[:-1]]


def _col(f: pd.DataFrame, name: str) -> pd.Series:
    return f[name] if name in f else pd.Series(np.nan, index=f.index)


def _sweep_events(f: pd.DataFrame, cfg: PerpflowConfig) -> dict[str, tuple[np.ndarray, int]]:
    """Swing and pool sweeps by side and depth bucket."""
    out = {}
    edges = (DEPTH_SHALLOW, cfg.sweep.max_depth_atr)
    for kind, prefix in (("swing", "sweep"), ("pool", "pool_sweep")):
        for side, d in (("low", -1), ("high", 1)):
            flag = f[f"{prefix}_{side}"].fillna(False).astype(bool).to_numpy()
            depth = f[f"{prefix}_{side}_depth_atr"].to_numpy(dtype="float64")
            buckets = {"shallow": depth < edges[0], "mid": (depth >= edges[0]) & (depth <= edges[1]),
                       "deep": depth > edges[1]}  # fmt: skip
            for name, inside in buckets.items():
                out[f"sweep_{side}_{kind}_{name}"] = (flag & inside, d)
    return out


def _structure_events(f: pd.DataFrame) -> dict[str, tuple[np.ndarray, int]]:
    """FVG creation and fill, value-area reclaims (rolling and session)."""
    out = {}
    for side, d in (("bull", 1), ("bear", -1)):
        age = f[f"fvg_{side}_age"]
        filled = f[f"fvg_{side}_filled"]
        out[f"fvg_{side}_new"] = ((age == 0).to_numpy(), d)
        done = (filled >= 1) & (age > 0)
        out[f"fvg_{side}_fill"] = ((done & ~(filled.shift(1) >= 1)).to_numpy(), -d)
    close, prev = f["close"], f["close"].shift(1)
    for prefix, lo, hi in (
        ("va", "vp_val", "vp_vah"),
        ("session_va", "session_val", "session_vah"),
    ):
        out[f"{prefix}_reclaim_low"] = (((prev < f[lo].shift(1)) & (close >= f[lo])).to_numpy(), 1)
        out[f"{prefix}_reclaim_high"] = (
            ((prev > f[hi].shift(1)) & (close <= f[hi])).to_numpy(),
            -1,
        )
    return out


def _derivative_events(f: pd.DataFrame, cfg: PerpflowConfig) -> dict[str, tuple[np.ndarray, int]]:
    """Funding extremes, OI regime entries, liquidation cluster starts."""
    z, zx = f["funding_z"], cfg.filters.funding.z_extreme
    out = {"funding_extreme_high": (_runs_start(z >= zx), 1),
           "funding_extreme_low": (_runs_start(z <= -zx), -1)}  # fmt: skip
    reg, prev = f["oi_regime"], f["oi_regime"].shift(1)
    for code, (name, d) in OI_EVENTS.items():
        out[name] = (((reg == code) & (prev != code) & prev.notna()).to_numpy(), d)
    start = _runs_start(f["liq_cluster"].astype(bool))
    longs, shorts = f["liq_long_notional"], f["liq_short_notional"]
    share = cfg.filters.liquidations.min_dominance * (longs + shorts)
    is_long, is_short = (longs >= share).to_numpy(), (shorts >= share).to_numpy()
    out["liq_cluster_longs"] = (start & is_long, -1)
    out["liq_cluster_shorts"] = (start & is_short, 1)
    out["liq_cluster_mixed"] = (start & ~is_long & ~is_short, 0)
    return out


def _open_run_events(f: pd.DataFrame) -> dict[str, tuple[np.ndarray, int]]:
    """Swing or pool sweeps in the first hour of a New York session block."""
    hour = pd.to_datetime(f["date"], utc=True).dt.tz_convert(NY_TZ).dt.hour
    first = hour.isin([start for start, _ in SESSION_BLOCKS.values()]).to_numpy()
    out = {}
    for side, d in (("low", -1), ("high", 1)):
        any_sweep = f[f"sweep_{side}"].fillna(False) | f[f"pool_sweep_{side}"].fillna(False)
        out[f"open_run_{side}"] = (first & any_sweep.astype(bool).to_numpy(), d)
    return out


def _book_flow_events(f: pd.DataFrame, cfg: PerpflowConfig) -> dict[str, tuple[np.ndarray, int]]:
    """Book imbalance crossings, voids appearing, aggressor-imbalance sign changes (only for the
    columns present: books and trades recorded in the store)."""
    out = {}
    if "book_imb_10_last" in f and f["book_imb_10_last"].notna().any():
        b = cfg.filters.book
        imb = f["book_imb_10_last"]
        out["book_imb_bid"] = (
            ((imb >= b.min_imbalance) & (imb.shift(1) < b.min_imbalance)).to_numpy(),
            1,
        )
        out["book_imb_ask"] = (
            ((imb < b.min_imbalance) & (imb.shift(1) >= b.min_imbalance)).to_numpy(),
            -1,
        )
        out["book_void_bid"] = (_runs_start(f["book_void_bid_bps_max"] > b.max_void_bps), -1)
        out["book_void_ask"] = (_runs_start(f["book_void_ask_bps_max"] > b.max_void_bps), 1)
    if "aggressor_imbalance" in f and f["aggressor_imbalance"].notna().any():
        ai = f["aggressor_imbalance"]
        out["flow_buy"] = (((ai > 0) & (ai.shift(1) <= 0)).to_numpy(), 1)
        out["flow_sell"] = (((ai < 0) & (ai.shift(1) >= 0)).to_numpy(), -1)
    return out


def event_masks(f: pd.DataFrame, cfg: PerpflowConfig) -> dict[str, tuple[np.ndarray, int]]:
    """Event name -> (bool per row of the feature frame `f`, direction)."""
    return {**_sweep_events(f, cfg), **_structure_events(f), **_derivative_events(f, cfg),
            **_open_run_events(f), **_book_flow_events(f, cfg)}  # fmt: skip


def detect_events(f: pd.DataFrame, *, pair: str, cfg: PerpflowConfig) -> pd.DataFrame:
    """The event table (`EVENT_COLUMNS`) of one pair's feature frame (needs `date`, `block` and
    `vol_decile` columns, see `pair_features`); events with no known decile are dropped."""
    decile = f["vol_decile"].to_numpy(dtype="float64")
    parts = []
    for name, (mask, d) in event_masks(f, cfg).items():
        rows = np.flatnonzero(np.asarray(mask, dtype=bool) & ~np.isnan(decile))
        parts.append(pd.DataFrame({"row": rows, "event": name, "dir": d}))
    ev = pd.concat(parts, ignore_index=True).sort_values(["row", "event"], kind="stable")
    rows = ev["row"].to_numpy()
    out = pd.DataFrame({
        "pair": pd.Series(pair, index=ev.index, dtype="str"),
        "date": pd.DatetimeIndex(f["date"])[rows],
        "event": ev["event"].astype("str"),
        "dir": ev["dir"].astype("int8"),
        "block": f["block"].to_numpy()[rows],
        "vol_decile": decile[rows].astype("int8"),
    })  # fmt: skip
    out["date"] = out["date"].astype("datetime64[ns, UTC]")
    out["block"] = out["block"].astype("str")
    return out.reset_index(drop=True)


def _with_books(df: pd.DataFrame, f: pd.DataFrame, *, pair: str, cfg: PerpflowConfig,
                timeframe: str, store: Path) -> pd.DataFrame:  # fmt: skip
    """Add recorded books' and trades' per-candle columns when the store has them (logged
    either way)."""
    from perpflow.features.orderflow import candle_flow
    from perpflow.strategy.book_signals import book_on_candles

    symbol, since = exchange_symbol(pair), df["date"].iloc[0]
    exchange = cfg.filters.book.exchange
    if len(load_books(store, exchange, symbol, since)):
        on = cfg.model_copy(update={"filters": cfg.filters.model_copy(
            update={"book": cfg.filters.book.model_copy(update={"enabled": True})})})  # fmt: skip
        book = book_on_candles(
            df, pair=pair, cfg=on, timeframe=timeframe, root=store, symbol=symbol
        )
        f = f.drop(columns=[c for c in book.columns if c in f]).join(book)
    else:
        logger.info("%s: no recorded books in %s: book events absent", pair, store)
    trades = recorded_trades(store, exchange, symbol, since) if store.exists() else None
    if trades is not None and len(trades):
        flow = candle_flow(df["date"], trades.rename(columns={"ts": "date"}), timeframe)
        f = f.join(flow[["aggressor_imbalance"]])
    else:
        logger.info("%s: no recorded trades in %s: flow events absent", pair, store)
    return f


def pair_features(datadir: Path, pair: str, cfg: PerpflowConfig, timeframe: str = "5m",
                  candles: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """One pair's candles with LiquiditySweep's feature columns, recorded book/flow columns
    where the store (`<datadir>/store`) has them, `block` (session block name) and
    `vol_decile`. Reads `<pair>-<timeframe>-futures` unless `candles` are given."""
    datadir = Path(datadir)
    df = candles if candles is not None else read_required(datadir, pair, f"{timeframe}-futures")
    df = df.reset_index(drop=True)
    store = datadir / "store"
    f = populate_sweep_indicators(
        df, pair=pair, cfg=cfg, timeframe=timeframe,
        funding=read_optional(datadir, pair, "1h-funding_rate"),
        open_interest=read_optional(datadir, pair, f"{cfg.filters.open_interest.timeframe}-open_interest"),
        liquidation_store=store,
    )  # fmt: skip
    f = _with_books(df, f, pair=pair, cfg=cfg, timeframe=timeframe, store=store)
    f["block"] = f["session_block"].map(SESSION_NAMES).astype("str")
    f["vol_decile"] = vol_decile(f["close"], f["atr"], timeframe=timeframe).to_numpy()
    return f
