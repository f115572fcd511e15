"""Walk-forward for rule strategies: rolling train/test windows with a purge gap, one backtest
per out-of-sample test window, stitched into one out-of-sample record.

Fixed-parameter mode evaluates the configured rules on every test window (the train window is
what a parameter search would read; nothing in it is used here). Windows are whole UTC days
because Freqtrade's `--timerange` is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from perpflow.validation.metrics import summary
from perpflow.validation.study import Variant, variant_trades


@dataclass(frozen=True)
class Window:
    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp  # exclusive
    test_start: pd.Timestamp
    test_end: pd.Timestamp  # exclusive

    @property
    def timerange(self) -> str:
        return f"{self.test_start:%Y%m%d}-{self.test_end:%Y%m%d}"


def purge_days(startup_candles: int, timeframe: str) -> int:
    """The purge gap in whole days: the longest indicator look-back (startup candles)."""
    return max(1, math.ceil(startup_candles * pd.Timedelta(timeframe) / pd.Timedelta(days=1)))


def make_windows(start, end, *, train_months: int = 3, test_months: int = 1,
                 purge: int = 2) -> list[Window]:  # fmt: skip
    """Rolling windows over [start, end): train, `purge` days, then test; tests tile the range
    after the first train+purge without overlap."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if train_months < 1 or test_months < 1 or purge < 0:
        raise ValueError("train_months and test_months must be >= 1 and purge >= 0 days")
    out = []
    test_start = start + pd.DateOffset(months=train_months) + pd.Timedelta(days=purge)
    while True:
        test_end = min(test_start + pd.DateOffset(months=test_months), end)
        if test_end <= test_start:
            break
        train_end = test_start - pd.Timedelta(days=purge)
        out.append(Window(len(out), train_end - pd.DateOffset(months=train_months), train_end,
                          test_start, test_end))  # fmt: skip
        if test_end >= end:
            break
        test_start = test_end
    if not out:
        raise ValueError(f"{start:%Y-%m-%d}..{end:%Y-%m-%d} is too short for {train_months} month(s) "
                         f"of training, {purge} purge day(s) and a test window")  # fmt: skip
    return out


def walk_forward_variants(windows: list[Window], overlay: dict | None = None, *,
                          hyperopt_epochs: int = 0, loss: str = "SharpeHyperOptLoss",
                          ) -> list[Variant]:  # fmt: skip
    """One backtest per test window: fixed parameters, or (`hyperopt_epochs` > 0) parameters
    searched by Freqtrade's hyperopt on that window's train period only."""
    out = []
    for w in windows:
        hyper, ov = None, dict(overlay or {})
        if hyperopt_epochs:
            hyper = {"timerange": f"{w.train_start:%Y%m%d}-{w.train_end:%Y%m%d}",
                     "epochs": hyperopt_epochs, "loss": loss}  # fmt: skip
            ov["perpflow"] = {**ov.get("perpflow", {}), "hyperopt": {"enabled": True}}
        out.append(Variant(id=f"wf{w.index:02d}", timerange=w.timerange, overlay=ov,
                           meta={"window": w.index}, hyperopt=hyper))  # fmt: skip
    return out


def parameter_stability(results: pd.DataFrame) -> pd.DataFrame:
    """Searched strategy parameters (buy/sell spaces) per window, with their spread
    (std / |mean|) in a last row."""
    rows = {r.id: r.params for r in results.itertuples()
            if isinstance(getattr(r, "params", None), dict)}  # fmt: skip
    if not rows:
        return pd.DataFrame()
    flat = pd.DataFrame({k: {n: v for space in ("buy", "sell") for n, v in p.get(space, {}).items()}
                         for k, p in rows.items()}).T.sort_index().astype("float64")  # fmt: skip
    mean = flat.mean().abs()
    spread = (flat.std() / mean.where(mean > 0)).rename("relative spread")
    return pd.concat([flat, spread.to_frame().T])


def stitch(study_dir, windows: list[Window], starting_balance: float) -> tuple[pd.DataFrame,
                                                                               pd.DataFrame]:  # fmt: skip
    """Per-window summary table and the stitched out-of-sample trades (in window order, each
    window's trades only from its own test period)."""
    rows, parts = [], []
    for w in windows:
        t = variant_trades(study_dir, f"wf{w.index:02d}")
        if len(t):
            opened = pd.to_datetime(t["open_date"], utc=True)
            inside = (opened >= w.test_start.tz_localize("UTC")) & (
                opened < w.test_end.tz_localize("UTC"))  # fmt: skip
            assert inside.all(), f"window {w.index}: a trade opened outside its test window"
            parts.append(t.assign(window=w.index))
        s = summary(t, starting_balance=starting_balance, start=w.test_start, end=w.test_end)
        rows.append({"window": w.index, "train": f"{w.train_start:%Y-%m-%d}..{w.train_end:%Y-%m-%d}",
                     "test": f"{w.test_start:%Y-%m-%d}..{w.test_end:%Y-%m-%d}", **s})  # fmt: skip
    oos = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return pd.DataFrame(rows), oos


def oos_equity(oos: pd.DataFrame, starting_balance: float) -> pd.Series:
    """Stitched out-of-sample equity: the starting balance plus the cumulative profit of every
    window's trades in close order (equal to the sum of the window results)."""
    if oos.empty:
        return pd.Series([starting_balance], dtype="float64")
    t = oos.sort_values(["window", "close_date"], kind="stable")
    idx = pd.to_datetime(t["close_date"], utc=True)
    return pd.Series(starting_balance + t["profit_abs"].cumsum().to_numpy(), index=idx)
