"""LiquiditySweep indicators and entry signals as pure functions of candles and optional series.

Entries: a sweep of the last confirmed swing low (long) or high (short) that closes back inside,
with a wick no deeper than `max_depth_atr`, gated by funding z, the OI change and the New York
session blocks. A filter whose input is missing or stale blocks entries (fail closed) unless it
is disabled in config. The output columns are the same whether optional data exists or not.
"""

from __future__ import annotations

import logging

import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.features.align import asof_to_candles
from perpflow.features.funding import funding_settlements, funding_zscore
from perpflow.features.open_interest import oi_change, oi_column
from perpflow.features.sessions import in_sessions, ny_session_block
from perpflow.features.sweeps import sweeps
from perpflow.features.swings import confirmed_swings
from perpflow.features.volatility import atr
from perpflow.strategy.failclosed import warn_once

logger = logging.getLogger(__name__)

SIGNAL_COLUMNS = (
    "atr", "swing_high", "swing_high_age", "swing_low", "swing_low_age",
    "sweep_high", "sweep_low", "sweep_high_level", "sweep_low_level",
    "sweep_high_depth_atr", "sweep_low_depth_atr",
    "funding_z", "oi_change", "session_block",
    "ok_funding_long", "ok_funding_short", "ok_oi", "ok_session",
)  # fmt: skip


def funding_on_candles(
    dates: pd.Series, raw: pd.DataFrame | None, cfg: PerpflowConfig, timeframe: pd.Timedelta
) -> pd.Series:
    """Funding z-score of the last settlement knowable at each candle close (NaN if stale)."""
    f = cfg.filters.funding
    settlements = funding_settlements(raw)
    settlements = settlements.assign(
        funding_z=funding_zscore(settlements["funding_rate"], lookback=f.lookback)
    )
    aligned = asof_to_candles(
        dates,
        settlements[["date", "funding_z"]],
        timeframe=timeframe,
        available_after=pd.Timedelta(0),
        max_staleness=pd.Timedelta(hours=f.max_staleness_hours),
    )
    return aligned["funding_z"]


def oi_on_candles(
    dates: pd.Series, raw: pd.DataFrame | None, cfg: PerpflowConfig, timeframe: pd.Timedelta
) -> pd.Series:
    """OI change over `change_periods` OI rows, knowable one OI period after its stamp."""
    o = cfg.filters.open_interest
    if raw is None or raw.empty:
        series = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns, UTC]"), "oi_change": []})
    else:
        series = pd.DataFrame(
            {"date": raw["date"], "oi_change": oi_change(oi_column(raw), periods=o.change_periods)}
        )
    aligned = asof_to_candles(
        dates,
        series,
        timeframe=timeframe,
        available_after=pd.Timedelta(o.timeframe),
        max_staleness=pd.Timedelta(minutes=o.max_staleness_minutes),
    )
    return aligned["oi_change"]


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
) -> pd.DataFrame:
    """Add `SIGNAL_COLUMNS` to a candle frame (reads rows <= t for row t)."""
    tf = pd.Timedelta(timeframe)
    out = df.copy()
    out["atr"] = atr(df, period=cfg.risk.atr_period)
    swings = confirmed_swings(df, left=cfg.sweep.swing_left, right=cfg.sweep.swing_right)
    sw = sweeps(df, swings, out["atr"])
    for col in swings.columns:
        out[col] = swings[col]
    for col in sw.columns:
        out[col] = sw[col]
    out["funding_z"] = funding_on_candles(df["date"], funding, cfg, tf).to_numpy()
    out["oi_change"] = oi_on_candles(df["date"], open_interest, cfg, tf).to_numpy()
    out["session_block"] = ny_session_block(df["date"])
    f, o, s = cfg.filters.funding, cfg.filters.open_interest, cfg.filters.sessions
    z = out["funding_z"]
    out["ok_funding_long"] = _gate(z < f.z_extreme, z, f.enabled, pair, "funding")
    out["ok_funding_short"] = _gate(z > -f.z_extreme, z, f.enabled, pair, "funding")
    out["ok_oi"] = _gate(out["oi_change"] <= o.max_change, out["oi_change"], o.enabled, pair,
                         "open_interest")  # fmt: skip
    out["ok_session"] = in_sessions(out["session_block"], s.blocks) if s.enabled else True
    out["ok_session"] = out["ok_session"].astype(bool)
    return out


def sweep_entries(df: pd.DataFrame, cfg: PerpflowConfig) -> tuple[pd.Series, pd.Series]:
    """Boolean long and short entry signals from a frame built by `populate_sweep_indicators`."""
    depth = cfg.sweep.max_depth_atr
    common = df["ok_oi"] & df["ok_session"] & (df["volume"] > 0) & df["atr"].notna()
    long = df["sweep_low"] & (df["sweep_low_depth_atr"] <= depth) & df["ok_funding_long"] & common
    short = (
        df["sweep_high"] & (df["sweep_high_depth_atr"] <= depth) & df["ok_funding_short"] & common
    )
    return long.fillna(False).astype(bool), short.fillna(False).astype(bool)
