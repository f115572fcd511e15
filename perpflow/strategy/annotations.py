"""FreqUI annotations for LiquiditySweep: session blocks, macro blackouts, sweeps, open FVGs
(FVG boxes only with `perpflow.plot: "full"`).

Reads the analysed dataframe of the chart range; returns Freqtrade `AnnotationType` dicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BLOCK_STYLE = {1: ("NY 13-16", "rgba(250,204,21,0.12)"), 2: ("NY 16-21", "rgba(59,130,246,0.10)"),
               3: ("NY 00-07", "rgba(168,85,247,0.10)")}  # fmt: skip
MAX_EACH = 300  # keep the chart responsive on long ranges
FVG_SPAN = pd.Timedelta(hours=3)


def _runs(mask: pd.Series, dates: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of consecutive True runs (end = open time of the first False candle)."""
    m = mask.fillna(False).astype(bool).to_numpy()
    if not m.any():
        return []
    d = dates.reset_index(drop=True)
    starts = np.flatnonzero(m & ~np.r_[False, m[:-1]])
    ends = np.flatnonzero(m & ~np.r_[m[1:], False])
    end_times = [d.iloc[e + 1] if e + 1 < len(d) else d.iloc[e] for e in ends[:MAX_EACH]]
    return list(zip(d.iloc[starts[:MAX_EACH]], end_times, strict=True))


def structure_annotations(df: pd.DataFrame, *, zones: bool = False) -> list[dict]:
    """Areas for session blocks and blackouts (labelled once per run, light fills), points for
    pool sweeps, and with `zones` the unfilled FVGs as unlabelled boxes that end when filled
    (at most 3 h), so nothing covers the candles."""
    if df.empty:
        return []
    out: list[dict] = []
    for code, (label, color) in BLOCK_STYLE.items():
        for s, e in _runs(df["session_block"] == code, df["date"]):
            out.append({"type": "area", "start": s, "end": e, "color": color, "label": label})
    for s, e in _runs(df["macro_blackout"], df["date"]):
        out.append({"type": "area", "start": s, "end": e, "color": "rgba(107,114,128,0.3)",
                    "label": "macro blackout"})  # fmt: skip
    if zones:
        out += _fvg_zones(df)
    for col, y in (("pool_sweep_high", "high"), ("pool_sweep_low", "low")):
        for i in df.index[df[col].astype(bool)][-MAX_EACH:]:
            out.append({"type": "point", "x": df.at[i, "date"], "y": float(df.at[i, y]),
                        "shape": "triangle", "color": "#7c3aed", "label": "pool sweep"})  # fmt: skip
    return out


def _fvg_zones(df: pd.DataFrame) -> list[dict]:
    """One unlabelled box per new FVG, from its candle until it fills (at most FVG_SPAN)."""
    out = []
    dates = df["date"].reset_index(drop=True)
    for side, color in (("bull", "rgba(34,197,94,0.12)"), ("bear", "rgba(239,68,68,0.12)")):
        born = np.flatnonzero((df[f"fvg_{side}_age"] == 0).to_numpy())[-MAX_EACH:]
        filled = (df[f"fvg_{side}_filled"] >= 1).to_numpy()
        top, bottom = df[f"fvg_{side}_top"].to_numpy(), df[f"fvg_{side}_bottom"].to_numpy()
        for i in born:
            end = dates.iloc[i] + FVG_SPAN
            later = np.flatnonzero(filled[i + 1 :])
            if len(later):
                end = min(end, dates.iloc[i + 1 + later[0]])
            out.append({"type": "area", "start": dates.iloc[i], "end": end,
                        "y_start": float(bottom[i]), "y_end": float(top[i]), "color": color})  # fmt: skip
    return out
