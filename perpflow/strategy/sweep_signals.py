"""LiquiditySweep indicators and entry signals as pure functions of candles and optional series.

Entries: a sweep of the last confirmed swing low (long) or high (short), or of a liquidity pool
of equal lows/highs, that closes back inside with a wick no deeper than `max_depth_atr`, gated
by funding z, the OI regime, the New York session blocks, the macro blackout, the volatility
regime and the volume profile (the close must be back inside the value area). Also the
liquidation-cluster reversals of `liquidation_signals` (handoff-timed, funding/OI/macro gated). A filter whose input is missing or stale blocks entries (fail closed) unless it
is disabled in config. The output columns are the same whether optional data exists or not.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.macro_calendar import load_calendar
from perpflow.data.readers import exchange_symbol
from perpflow.features.align import asof_to_candles
from perpflow.features.funding import funding_interval_hours, funding_settlements, funding_zscore
from perpflow.features.fvg import fair_value_gaps
from perpflow.features.macro import blackout, check_coverage
from perpflow.features.open_interest import oi_change, oi_column, oi_regime
from perpflow.features.pools import liquidity_pools
from perpflow.features.regime import volatility_regime
from perpflow.features.sessions import in_sessions, session_context
from perpflow.features.sweeps import follow_through, pool_sweeps, sweeps
from perpflow.features.swings import confirmed_swings
from perpflow.features.volatility import atr
from perpflow.features.volume_profile import anchored_poc, anchored_value_area, rolling_profile
from perpflow.risk.conviction import conviction
from perpflow.strategy.book_signals import BOOK_COLUMNS, book_on_candles
from perpflow.strategy.failclosed import warn_once
from perpflow.strategy.liquidation_signals import LIQ_COLUMNS, liquidations_on_candles

logger = logging.getLogger(__name__)

SIGNAL_COLUMNS = (
    "atr", "swing_high", "swing_high_age", "swing_low", "swing_low_age",
    "sweep_high", "sweep_low", "sweep_high_level", "sweep_low_level",
    "sweep_high_depth_atr", "sweep_low_depth_atr",
    "pool_high_level", "pool_high_touches", "pool_low_level", "pool_low_touches",
    "buy_side_pool", "sell_side_pool", "pool_sweep_high", "pool_sweep_low",
    "pool_sweep_high_level", "pool_sweep_low_level",
    "pool_sweep_high_depth_atr", "pool_sweep_low_depth_atr",
    "pool_sweep_high_follow", "pool_sweep_low_follow",
    "fvg_bull_top", "fvg_bull_bottom", "fvg_bull_filled",
    "fvg_bear_top", "fvg_bear_bottom", "fvg_bear_filled",
    "vp_poc", "vp_vah", "vp_val", "vp_hvn_dist_atr", "vp_lvn_dist_atr",
    "session_poc", "session_poc_dist_atr", "session_vah", "session_val",
    "rv", "rv_pct", "volatile", "macro_blackout",
    "funding_z", "funding_rate_last", "funding_interval_h",
    "oi_change", "oi_z", "price_z", "oi_regime", "conviction_long", "conviction_short",
    "session_block", "tod_sin", "tod_cos", "dow_sin", "dow_cos",
    "ok_funding_long", "ok_funding_short", "ok_oi_long", "ok_oi_short", "ok_session", "ok_macro",
    "ok_regime", "ok_structure_long", "ok_structure_short", *LIQ_COLUMNS, *BOOK_COLUMNS,
)  # fmt: skip
OI_COLUMNS = ("oi_change", "oi_z", "price_z", "oi_regime")
FUNDING_COLUMNS = ("funding_z", "funding_rate_last", "funding_interval_h")


def funding_on_candles(
    dates: pd.Series, raw: pd.DataFrame | None, cfg: PerpflowConfig, timeframe: pd.Timedelta
) -> pd.Series:
    """`FUNDING_COLUMNS` of the last settlement knowable at each candle close, one minute after
    its stamp: z-score, the rate itself and the interval in force (NaN if stale)."""
    f = cfg.filters.funding
    settlements = funding_settlements(raw)
    settlements = settlements.assign(
        funding_z=funding_zscore(settlements["funding_rate"], lookback=f.lookback),
        funding_interval_h=funding_interval_hours(settlements),
    ).rename(columns={"funding_rate": "funding_rate_last"})
    aligned = asof_to_candles(
        dates,
        settlements[["date", *FUNDING_COLUMNS]],
        timeframe=timeframe,
        # a settlement stamped 08:00 is published a moment after 08:00: the candle closing at
        # 08:00 must not see it (live it would not yet; lookahead-analysis flags it)
        available_after=pd.Timedelta(minutes=1),
        max_staleness=pd.Timedelta(hours=f.max_staleness_hours),
    )
    return aligned[list(FUNDING_COLUMNS)]


def oi_on_candles(
    dates: pd.Series, raw: pd.DataFrame | None, cfg: PerpflowConfig, timeframe: pd.Timedelta
) -> pd.DataFrame:
    """OI change and OI regime (`OI_COLUMNS`) over `change_periods` OI rows, knowable one OI
    period after its stamp; NaN where OI is missing, stale or its z window is still filling.
    The price side of the regime is the OI file's own value / amount (the price at the stamp)."""
    o = cfg.filters.open_interest
    if raw is None or raw.empty:
        series = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns, UTC]"),
                               **{c: pd.Series(dtype="float64") for c in OI_COLUMNS}})  # fmt: skip
    else:
        oi = oi_column(raw)
        if "open_interest_value" not in raw.columns:
            raise ValueError("open interest data needs 'open_interest_value' for the OI regime "
                             f"(value / amount = price), got {list(raw.columns)}")  # fmt: skip
        price = raw["open_interest_value"].astype("float64") / oi.where(oi > 0)
        reg = oi_regime(price, oi, periods=o.change_periods, window=o.regime_window,
                        threshold=o.regime_threshold)  # fmt: skip
        known = reg["oi_z"].notna() & reg["price_z"].notna()
        series = pd.DataFrame({
            "date": raw["date"], "oi_change": oi_change(oi, periods=o.change_periods),
            "oi_z": reg["oi_z"], "price_z": reg["price_z"],
            "oi_regime": reg["oi_regime"].astype("float64").where(known),
        })  # fmt: skip
    aligned = asof_to_candles(
        dates,
        series,
        timeframe=timeframe,
        available_after=pd.Timedelta(o.timeframe),
        max_staleness=pd.Timedelta(minutes=o.max_staleness_minutes),
    )
    return aligned[list(OI_COLUMNS)]


def _gate(ok: pd.Series, value: pd.Series, enabled: bool, pair: str, name: str) -> pd.Series:
    """Filter result: `ok` where the input exists; False (logged once) where it is missing."""
    if not enabled:
        return pd.Series(True, index=ok.index)
    if value.isna().all():
        warn_once(
            logger, pair, name,
            f"{name} input missing or stale for the whole range: entries blocked by the {name} "
            f"filter (set perpflow.filters.{name}.enabled=false to trade without it)",
        )  # fmt: skip
    return ok & value.notna()


def populate_sweep_indicators(
    df: pd.DataFrame,
    *,
    pair: str,
    cfg: PerpflowConfig,
    timeframe: str,
    funding: pd.DataFrame | None,
    open_interest: pd.DataFrame | None,
    liquidation_store: Path | None = None,
) -> pd.DataFrame:
    """Add `SIGNAL_COLUMNS` to a candle frame (reads rows <= t for row t; liquidation events
    from `liquidation_store`)."""
    tf = pd.Timedelta(timeframe)
    a = atr(df, period=cfg.risk.atr_period)
    sessions = session_context(df["date"])
    fund = funding_on_candles(df["date"], funding, cfg, tf)
    oi = oi_on_candles(df["date"], open_interest, cfg, tf)
    context = {"macro_blackout": _macro(df["date"], cfg, pair)}
    context |= {col: fund[col].to_numpy() for col in FUNDING_COLUMNS}
    context |= {col: oi[col].to_numpy() for col in OI_COLUMNS}
    liq = liquidations_on_candles(df, pair=pair, cfg=cfg, timeframe=timeframe,
                                  root=liquidation_store)  # fmt: skip
    book_root = Path(cfg.filters.book.store) if cfg.filters.book.store else liquidation_store
    book = book_on_candles(df, pair=pair, cfg=cfg, timeframe=timeframe, root=book_root,
                           symbol=exchange_symbol(pair))  # fmt: skip
    parts = [
        pd.DataFrame({"atr": a}),
        *_structure(df, a, cfg, sessions["session_block"], timeframe),
        sessions,
        pd.DataFrame(context, index=df.index),
        liq.set_axis(df.index),
        book.set_axis(df.index),
    ]
    out = pd.concat([df, *parts], axis=1)  # one copy of the frame, not one per join
    _add_gates(out, cfg, pair)
    out["conviction_long"] = conviction(out, long=True).to_numpy()
    out["conviction_short"] = conviction(out, long=False).to_numpy()
    return out


def _structure(
    df: pd.DataFrame, a: pd.Series, cfg: PerpflowConfig, block: pd.Series, timeframe: str
) -> list[pd.DataFrame]:
    """Swings, sweeps, pools, pool sweeps, FVGs, volume profile and regime frames."""
    sc, st = cfg.sweep, cfg.filters.structure
    swings = confirmed_swings(df, left=sc.swing_left, right=sc.swing_right)
    pools = liquidity_pools(
        df, left=sc.pool_fractal, right=sc.pool_fractal, tol=sc.pool_tolerance,
        lags=sc.pool_lags, max_age=sc.pool_max_age,
    )  # fmt: skip
    rg = cfg.filters.regime
    ps = pool_sweeps(df, pools, a)
    return [
        swings, sweeps(df, swings, a), pools, ps, fair_value_gaps(df, a),
        rolling_profile(df, a, window=st.profile_window, bins=st.profile_bins, timeframe=timeframe),
        anchored_poc(df, block, a),
        anchored_value_area(df, block, bins=st.profile_bins),
        _follow(df, a, ps),
        volatility_regime(df, window=rg.window, lookback=rg.lookback, min_pct=rg.min_pct),
    ]  # fmt: skip


def _follow(df: pd.DataFrame, a: pd.Series, ps: pd.DataFrame) -> pd.DataFrame:
    """Follow-through state of the latest pool sweep on each side (0 none .. 3 reversal)."""
    return pd.DataFrame({
        f"pool_sweep_{side}_follow": follow_through(
            df["close"], ps[f"pool_sweep_{side}"], ps[f"pool_sweep_{side}_level"], a,
            high=side == "high",
        )
        for side in ("high", "low")
    })  # fmt: skip


@cache
def _calendar(path: str | None) -> pd.DataFrame:
    return load_calendar(Path(path) if path else None)


def _macro(dates: pd.Series, cfg: PerpflowConfig, pair: str) -> pd.Series:
    """Blackout flags around scheduled events (all False when the filter is off)."""
    m = cfg.filters.macro
    if not m.enabled:
        return pd.Series(False, index=dates.index)
    cal = _calendar(m.calendar_file)
    if check_coverage(dates, cal) is not None:
        warn_once(logger, pair, "macro_coverage", "macro calendar ends before the data; "
                  + ("entries after it are blocked" if m.strict_coverage else "no blackouts after it"))  # fmt: skip
    return blackout(
        dates, cal, before_minutes=m.before_minutes, after_minutes=m.after_minutes,
        importance=m.importance, strict_coverage=m.strict_coverage,
    ).to_numpy()  # fmt: skip


def _add_gates(out: pd.DataFrame, cfg: PerpflowConfig, pair: str) -> None:
    """The `ok_*` filter columns (True = this filter allows an entry)."""
    f, o, s = cfg.filters.funding, cfg.filters.open_interest, cfg.filters.sessions
    z = out["funding_z"]
    out["ok_funding_long"] = _gate(z < f.z_extreme, z, f.enabled, pair, "funding")
    out["ok_funding_short"] = _gate(z > -f.z_extreme, z, f.enabled, pair, "funding")
    change_ok = out["oi_change"] <= o.max_change if o.max_change is not None else True
    regime = out["oi_regime"]
    out["ok_oi_long"] = _gate(~regime.isin(o.block_long_regimes) & change_ok, regime, o.enabled,
                              pair, "open_interest")  # fmt: skip
    out["ok_oi_short"] = _gate(~regime.isin(o.block_short_regimes) & change_ok, regime,
                               o.enabled, pair, "open_interest")  # fmt: skip
    out["ok_session"] = in_sessions(out["session_block"], s.blocks) if s.enabled else True
    out["ok_session"] = out["ok_session"].astype(bool)
    out["ok_macro"] = ~out["macro_blackout"].astype(bool)
    out["ok_regime"] = out["volatile"].astype(bool) if cfg.filters.regime.enabled else True
    st = cfg.filters.structure
    out["ok_structure_long"] = (
        _structure_ok(out, st.fvg_block_atr, long=True) if st.enabled else True
    )
    out["ok_structure_short"] = (
        _structure_ok(out, st.fvg_block_atr, long=False) if st.enabled else True
    )
    for col in ("ok_regime", "ok_structure_long", "ok_structure_short"):
        out[col] = out[col].astype(bool)


def _structure_ok(out: pd.DataFrame, fvg_atr: float, *, long: bool) -> pd.Series:
    """Close back inside the value area and no unfilled opposing FVG within `fvg_atr` ATR."""
    if long:
        gap = (out["fvg_bear_bottom"] - out["close"]) / out["atr"]
        open_gap = out["fvg_bear_filled"] < 1
        inside = out["close"] >= out["vp_val"]
    else:
        gap = (out["close"] - out["fvg_bull_top"]) / out["atr"]
        open_gap = out["fvg_bull_filled"] < 1
        inside = out["close"] <= out["vp_vah"]
    blocked = open_gap & (gap >= 0) & (gap <= fvg_atr)
    return inside & ~blocked


def sweep_kinds(df: pd.DataFrame, cfg: PerpflowConfig) -> dict[str, pd.Series]:
    """Raw sweep triggers by entry tag (before filters): swing sweeps and pool sweeps."""
    depth = cfg.sweep.max_depth_atr
    kinds = {
        "sweep_low": df["sweep_low"] & (df["sweep_low_depth_atr"] <= depth),
        "sweep_high": df["sweep_high"] & (df["sweep_high_depth_atr"] <= depth),
        "pool_sweep_low": df["pool_sweep_low"] & (df["pool_sweep_low_depth_atr"] <= depth),
        "pool_sweep_high": df["pool_sweep_high"] & (df["pool_sweep_high_depth_atr"] <= depth),
    }
    if not cfg.sweep.use_pools:
        kinds["pool_sweep_low"] = kinds["pool_sweep_high"] = pd.Series(False, index=df.index)
    return {k: v.fillna(False).astype(bool) for k, v in kinds.items()}


def sweep_entries(df: pd.DataFrame, cfg: PerpflowConfig) -> tuple[pd.Series, pd.Series]:
    """Boolean long and short entry signals from a frame built by `populate_sweep_indicators`."""
    k = sweep_kinds(df, cfg)
    tradable = df["ok_macro"] & (df["volume"] > 0) & df["atr"].notna()
    common = tradable & df["ok_session"] & df["ok_regime"]
    book_long = df["ok_book_long"].astype(bool) if "ok_book_long" in df else True
    book_short = df["ok_book_short"].astype(bool) if "ok_book_short" in df else True
    long = (
        (
            (k["sweep_low"] | k["pool_sweep_low"]) & df["ok_structure_long"] & common & book_long
            | df["liq_reversal_long"] & tradable  # its own timing: the handoff windows
        )
        & df["ok_funding_long"]
        & df["ok_oi_long"]
    )
    short = (
        (
            (k["sweep_high"] | k["pool_sweep_high"])
            & df["ok_structure_short"]
            & common
            & book_short
            | df["liq_reversal_short"] & tradable
        )
        & df["ok_funding_short"]
        & df["ok_oi_short"]
    )
    return long.fillna(False).astype(bool), short.fillna(False).astype(bool)


def entry_tags(df: pd.DataFrame, cfg: PerpflowConfig) -> tuple[pd.Series, pd.Series]:
    """Entry tag per row: a liquidation reversal wins over a pool sweep, which wins over a plain
    swing sweep."""
    k = sweep_kinds(df, cfg)
    long_tag = pd.Series("sweep_low", index=df.index).mask(k["pool_sweep_low"], "pool_sweep_low")
    short_tag = pd.Series("sweep_high", index=df.index).mask(
        k["pool_sweep_high"], "pool_sweep_high"
    )
    long_tag = long_tag.mask(df["liq_reversal_long"].astype(bool), "liq_reversal_long")
    short_tag = short_tag.mask(df["liq_reversal_short"].astype(bool), "liq_reversal_short")
    return long_tag, short_tag
