"""Tables and pictures of the slippage model: one row per calibrated profile, and the block
report (table + a bar chart per block: cost components stacked with the band, depth within
10 bps, sizing scale) as Markdown or self-contained HTML with the PNG beside it."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.execution.profile import depth_within  # noqa: E402
from perpflow.execution.slippage import SlippageModel, profile_cost  # noqa: E402

NOTIONALS = (10_000.0, 50_000.0, 250_000.0)


def profile_table(model: SlippageModel, notionals=NOTIONALS) -> pd.DataFrame:
    """Per profile: snapshots, captures, span, spread p50, reach and median depth within 10 bps
    per side, whether the model uses it (enough snapshots) and the profile's cost of each
    notional (bps, mean of buy and sell; `ext_*` flags extrapolation past the recorded depth),
    shown for unused profiles too."""
    rows = []
    for (sym, block), p in sorted(model.profiles.items()):
        usable = p.snapshots >= model.min_snapshots
        row = {"symbol": sym, "block": block, "snapshots": p.snapshots, "captures": p.captures,
               "first_ts": p.first_ts[:19], "seconds": (pd.Timestamp(p.last_ts)
               - pd.Timestamp(p.first_ts)).total_seconds(), "used": usable,
               "spread_bps_p50": p.spread_bps[1], "reach_bid_bps": p.reach_bps["bid"],
               "reach_ask_bps": p.reach_bps["ask"]}  # fmt: skip
        for book_side in ("bid", "ask"):
            row[f"depth10_{book_side}"] = depth_within(*p.curve(book_side, 1, 1), 10.0)
        for n in notionals:
            cs = [profile_cost(p, s, n, 0.0) for s in ("buy", "sell")]
            row[f"cost_{n / 1e3:g}k"] = float(np.mean([c.total_bps for c in cs]))
            row[f"ext_{n / 1e3:g}k"] = any(c.extrapolated for c in cs)
        rows.append(row)
    return pd.DataFrame(rows)


def block_chart(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Two panels per block: cost of the reference order (half spread + impact stacked, the
    band as an error bar, the candle proxy as a marker) and depth within 10 bps; the sizing
    scale is written above each block."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    x = np.arange(len(table))
    hs, imp = table["half_spread_bps"].fillna(0), table["impact_bps"].fillna(0)
    ax.bar(x, hs, color="#93c5fd", label="half spread")
    ax.bar(x, imp, bottom=hs, color="#2563eb", label="impact")
    err = np.vstack([(table["cost_bps"] - table["band_low_bps"]).clip(lower=0),
                     (table["band_high_bps"] - table["cost_bps"]).clip(lower=0)])  # fmt: skip
    ax.errorbar(x, table["cost_bps"], yerr=err, fmt="none", ecolor="k", capsize=4, label="band")
    ax.plot(x, table["candle_cost_bps"], "o", color="#f59e0b", label="candle proxy")
    labels = [f"{b}\nx{sc:.2f} {src}" for b, sc, src in zip(table.index, table["scale"],
                                                              table["source"], strict=True)]  # fmt: skip
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("bps of mid")
    ax.set_title("cost of the reference order (scale, source below)", fontsize=10)
    ax.legend(fontsize=8)
    depth = table.filter(like="depth_").iloc[:, 0]
    seen = depth.isna() & (table["visible_notional"] > 0)
    ax2.bar(x, depth.fillna(0) / 1e6, color="#16a34a", label="within 10 bps")
    ax2.bar(x[seen], table["visible_notional"][seen] / 1e6, color="#bbf7d0", hatch="//",
            label="all recorded levels (10 bps beyond them)")  # fmt: skip
    for i in np.flatnonzero(seen):
        ax2.annotate(f"within {table['reach_bps'].iloc[i]:.2g} bps", (i, 0), ha="center",
                     va="bottom", fontsize=7)  # fmt: skip
    ax2.set_xticks(x, table.index)
    ax2.legend(fontsize=8)
    ax2.set_ylabel("M quote within 10 bps (median)")
    ax2.set_title("median book depth (profiles only)", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_block_report(table: pd.DataFrame, out: Path, title: str, notes: list[str]) -> list[Path]:
    """`out` (.md or .html) with `notes`, the table and the chart (PNG beside it)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = block_chart(table, out.with_suffix(".png"), title)
    shown = table.round(4)
    if out.suffix == ".html":
        from perpflow.reports.html import CSS, png_file

        body = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
        out.write_text(f"<html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
                       f"<h1>{html.escape(title)}</h1>{body}{shown.to_html()}"
                       f"<img src='data:image/png;base64,{png_file(png)}'></body></html>")  # fmt: skip
    else:
        text = "\n\n".join([f"# {title}", *notes, shown.to_markdown(), f"![blocks]({png.name})"])
        out.write_text(text + "\n")
    return [out, png]
