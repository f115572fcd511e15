"""`perpflow plot structure`: one day of candles with what the structure features see.

Draws candles, live liquidity pools (buy-side red, sell-side green), swing and pool sweeps
(triangles), unfilled fair value gaps (shaded), the rolling POC and value area, the session
POC, New York session blocks and macro blackouts (background bands). Reads the same
`populate_sweep_indicators` output the strategy uses, so the picture is what the bot sees.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.config import load_perpflow_config  # noqa: E402
from perpflow.data.files import load_candles  # noqa: E402
from perpflow.strategy.sweep_signals import populate_sweep_indicators  # noqa: E402

BLOCK_COLORS = {1: "#fff3c4", 2: "#dbeafe", 3: "#e9d5ff"}
WARMUP = pd.Timedelta(days=8)


def _candles(ax, d: pd.DataFrame, width: float) -> None:
    up = d["close"] >= d["open"]
    x = d["x"].to_numpy()
    for mask, color in ((up, "#16a34a"), (~up, "#dc2626")):
        ax.vlines(x[mask], d["low"][mask], d["high"][mask], color=color, linewidth=0.6)
        lo = np.minimum(d["open"][mask], d["close"][mask])
        ax.bar(x[mask], np.abs(d["close"] - d["open"])[mask] + 1e-9, width, lo, color=color)


def plot_structure(datadir: Path, pair: str, day: str, out: Path, config: dict | None = None):
    """Render `day` (UTC date) of `pair` to `out` (PNG). Returns the output path."""
    cfg = load_perpflow_config(config or {})
    raw = load_candles(datadir, pair)
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    raw = raw[(raw["date"] >= start - WARMUP) & (raw["date"] < end)].reset_index(drop=True)
    if not (raw["date"] >= start).any():
        raise ValueError(f"no {pair} candles on {day} in {datadir}")
    f = populate_sweep_indicators(raw, pair=pair, cfg=cfg, timeframe="5m", funding=None,
                                  open_interest=None)  # fmt: skip
    d = f[f["date"] >= start].reset_index(drop=True)
    d["x"] = (d["date"] - start).dt.total_seconds() / 3600.0
    fig, ax = plt.subplots(figsize=(16, 8))
    w = 5 / 60 * 0.7
    for code, color in BLOCK_COLORS.items():
        ax.fill_between(d["x"], 0, 1, where=d["session_block"] == code, color=color,
                        transform=ax.get_xaxis_transform(), step="post", alpha=0.6)  # fmt: skip
    ax.fill_between(d["x"], 0, 1, where=d["macro_blackout"], color="#9ca3af", alpha=0.5,
                    transform=ax.get_xaxis_transform(), step="post", label="macro blackout")  # fmt: skip
    for top, bot, fill, color in (("fvg_bull_top", "fvg_bull_bottom", "fvg_bull_filled", "#22c55e"),
                                  ("fvg_bear_top", "fvg_bear_bottom", "fvg_bear_filled", "#ef4444")):  # fmt: skip
        open_gap = d[fill] < 1
        ax.fill_between(
            d["x"], d[bot], d[top], where=open_gap, color=color, alpha=0.15, step="post"
        )
    _candles(ax, d, w)
    ax.step(
        d["x"], d["pool_high_level"], where="post", color="#b91c1c", lw=1.5, label="buy-side pool"
    )
    ax.step(
        d["x"], d["pool_low_level"], where="post", color="#15803d", lw=1.5, label="sell-side pool"
    )
    ax.step(d["x"], d["vp_poc"], where="post", color="#1d4ed8", lw=1, label="POC (rolling)")
    ax.step(d["x"], d["vp_vah"], where="post", color="#93c5fd", lw=0.8, ls="--", label="VAH/VAL")
    ax.step(d["x"], d["vp_val"], where="post", color="#93c5fd", lw=0.8, ls="--")
    ax.step(
        d["x"], d["session_poc"], where="post", color="#7c3aed", lw=0.8, ls=":", label="session POC"
    )
    for col, marker, color, y in (("sweep_high", "v", "#b91c1c", "high"), ("sweep_low", "^", "#15803d", "low"),
                                  ("pool_sweep_high", "v", "#7f1d1d", "high"),
                                  ("pool_sweep_low", "^", "#14532d", "low")):  # fmt: skip
        m = d[col].astype(bool)
        ax.scatter(d["x"][m], d[y][m], marker=marker, s=90 if "pool" in col else 45, color=color,
                   label=col.replace("_", " "), zorder=5)  # fmt: skip
    ax.set_xlim(0, 24)
    lo, hi = d["low"].min(), d["high"].max()
    pad = 0.25 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)  # levels far from today's range are cut, not squeezed
    ax.set_xlabel("hour (UTC)")
    ax.set_title(f"{pair} {day}: pools, sweeps, FVGs, volume profile, NY sessions "
                 "(yellow 13-16, blue 16-21, purple 00-07 NY), macro blackouts (grey)")  # fmt: skip
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
