"""FreqUI annotations for LiquiditySweep: session blocks, macro blackouts, sweeps, open FVGs.

Reads the analysed dataframe of the chart range; returns Freqtrade `AnnotationType` dicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BLOCK_STYLE = {1: ("NY 13-16", "rgba(250,204,21,0.12)"), 2: ("NY 16-21", "rgba(59,130,246,0.10)"),
               3: ("NY 00-07", "rgba(168,85,247,0.10)")}  # fmt: skip
MAX_EACH = 300  # keep the chart responsive on long ranges


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


def structure_annotations(df: pd.DataFrame) -> list[dict]:
    """Areas for session blocks, blackouts and unfilled FVGs; points for pool sweeps."""
    if df.empty:
        return []
    out: list[dict] = []
    for code, (label, color) in BLOCK_STYLE.items():
        for s, e in _runs(df["session_block"] == code, df["date"]):
            out.append({"type": "area", "start": s, "end": e, "color": color, "label": label})
    for s, e in _runs(df["macro_blackout"], df["date"]):
        out.append({"type": "area", "start": s, "end": e, "color": "rgba(107,114,128,0.3)",
                    "label": "macro blackout"})  # fmt: skip
    for side, color in (("bull", "rgba(34,197,94,0.2)"), ("bear", "rgba(239,68,68,0.2)")):
        born = df[f"fvg_{side}_age"] == 0
        for i in df.index[born][-MAX_EACH:]:
            row = df.loc[i]
            out.append({"type": "area", "start": row["date"],
                        "end": row["date"] + pd.Timedelta(hours=6), "y_start": row[f"fvg_{side}_bottom"],
                        "y_end": row[f"fvg_{side}_top"], "color": color, "label": f"FVG {side}"})  # fmt: skip
    for col, y, label in (
        ("pool_sweep_high", "high", "pool sweep"),
        ("pool_sweep_low", "low", "pool sweep"),
    ):
        for i in df.index[df[col].astype(bool)][-MAX_EACH:]:
            out.append({"type": "point", "x": df.at[i, "date"], "y": float(df.at[i, y]),
                        "shape": "triangle", "color": "#7c3aed", "label": label})  # fmt: skip
    return out
