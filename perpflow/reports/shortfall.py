"""Shortfall report: markdown, an HTML page with two pictures (measured entry shortfall against
the model's prediction with its band as error bars; the distribution of entry and exit
shortfall), the per-trade CSV and the summary JSON (`perpflow.execution.shortfall`)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from perpflow.reports.html import img, png_file, table, write_html

SHOWN = ["trade_id", "pair", "side", "decision_time", "session", "entry_orders",
         "children_planned", "decision_price", "decision_source", "entry_vwap", "shortfall_bps",
         "model_bps", "model_band_lo", "model_band_hi", "in_band", "residual_bps", "exit_reason",
         "exit_decision_price", "exit_vwap", "exit_shortfall_bps"]  # fmt: skip
GROUP_COLS = ["trades", "measured", "median_bps", "mean_bps", "p90_bps", "exit_median_bps",
              "in_band_share", "residual_median_bps"]  # fmt: skip


def scatter_png(df: pd.DataFrame, path: Path) -> str:
    """Measured shortfall (y) against the model (x), the model's band as horizontal error bars,
    green inside the band, red outside, grey without one; base64 of the PNG written."""
    d = df[df["shortfall_bps"].notna() & df["model_bps"].notna()]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    colours = {"in band": "#16a34a", "outside band": "#dc2626", "no band": "#6b7280"}
    state = d["in_band"].astype(object).map({True: "in band", False: "outside band"})
    state = state.fillna("no band")
    for name, colour in colours.items():
        s = d[state == name]
        if s.empty:
            continue
        xerr = np.vstack([(s["model_bps"] - s["model_band_lo"]).clip(lower=0).fillna(0),
                          (s["model_band_hi"] - s["model_bps"]).clip(lower=0).fillna(0)])  # fmt: skip
        ax.errorbar(s["model_bps"], s["shortfall_bps"], xerr=xerr, fmt="o", ms=4, color=colour,
                    ecolor=colour, elinewidth=0.8, alpha=0.8, label=f"{name} ({len(s)})")  # fmt: skip
    if len(d):
        lo = float(np.nanmin([d["model_bps"].min(), d["shortfall_bps"].min(), 0]))
        hi = float(np.nanmax([d["model_bps"].max(), d["shortfall_bps"].max(), 0]))
        pad = max(1.0, 0.05 * (hi - lo))
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#111827", linewidth=0.7,
                linestyle="--", label="measured = model")  # fmt: skip
        ax.legend(fontsize=8)
    left_out = int(df["shortfall_bps"].notna().sum()) - len(d)
    ax.set_title(f"entry shortfall vs model ({len(d)} trades; {left_out} measured without a "
                 "model)", fontsize=10)  # fmt: skip
    ax.set_xlabel("model bps (bar: its band)")
    ax.set_ylabel("measured shortfall bps (positive = paid)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return png_file(path)


def hist_png(df: pd.DataFrame, path: Path) -> str:
    """Histogram of entry and exit shortfall (bps) with zero marked; base64 of the PNG."""
    entry, exit_ = df["shortfall_bps"].dropna(), df["exit_shortfall_bps"].dropna()
    both = pd.concat([entry, exit_])
    fig, ax = plt.subplots(figsize=(7, 4))
    if len(both):
        bins = np.histogram_bin_edges(both, bins=min(40, max(5, len(both) // 2)))
        ax.hist(entry, bins=bins, color="#93c5fd", label=f"entry ({len(entry)})")
        ax.hist(exit_, bins=bins, color="#fca5a5", alpha=0.7, label=f"exit ({len(exit_)})")
        ax.legend(fontsize=8)
    ax.axvline(0, color="#111827", linewidth=0.8, linestyle="--")
    ax.set_xlabel("shortfall bps (positive = paid)")
    ax.set_ylabel("trades")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("implementation shortfall per trade")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return png_file(path)


def _bps(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"


def headline(s: dict) -> str:
    """The one-paragraph result in plain words."""
    e, x = s["entry"], s["exit"]
    band = (f"Measured entries in the model's band: {round(s['in_band_share'] * s['in_band_known'])}"
            f" of {s['in_band_known']}" if s["in_band_known"] else "No measured entry has a model band")  # fmt: skip
    return (f"{s['trades']} trades, {s['entries_measured']} entries measured "
            f"({s['without_decision_price']} without a decision price, kept as NaN): entry "
            f"shortfall median {_bps(e['median'])} bps, mean {_bps(e['mean'])}, p90 "
            f"{_bps(e['p90'])}; exits measured {s['exits_measured']} of {s['exits']} "
            f"(stop exits {s['stop_exits']}, against the stop level): median {_bps(x['median'])} bps. "
            f"{band}; median residual (measured - model) {_bps(s['residual_median_bps'])} bps.")  # fmt: skip


def markdown(df: pd.DataFrame, s: dict, meta: dict) -> str:
    """The report as markdown: headline, setup, per pair, per session block, per trade."""
    pairs = pd.DataFrame(s["by_pair"], columns=["pair", *GROUP_COLS])
    sessions = pd.DataFrame(s["by_session"], columns=["session", *GROUP_COLS])
    shown = df[[c for c in SHOWN if c in df]]
    lines = ["# Implementation shortfall", "", headline(s), "",
             *[f"- {k}: {v}" for k, v in meta.items()],
             f"- decision sources: {s['decision_sources']}", "",
             "Shortfall in bps, positive = paid: entries sign * (VWAP of the filled entry orders"
             " / decision price - 1) * 1e4 (sign +1 long, -1 short), exits mirrored; stop exits "
             "against the stop level.", "",
             "## By pair", "", pairs.to_markdown(index=False, floatfmt=".2f"), "",
             "## By New York session block of the decision time", "",
             sessions.to_markdown(index=False, floatfmt=".2f"), "",
             "## Trades", "", shown.to_markdown(index=False, floatfmt=".2f"), ""]  # fmt: skip
    return "\n".join(lines)


def shortfall_report(df: pd.DataFrame, s: dict, out: Path, *, meta: dict) -> dict[str, Path]:
    """Write `shortfall.csv`, `summary.json`, `shortfall.md`, `shortfall.html` and the two PNGs
    into `out`; returns their paths by name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {n: out / f for n, f in (("csv", "shortfall.csv"), ("json", "summary.json"),
                                     ("md", "shortfall.md"), ("html", "shortfall.html"),
                                     ("scatter", "shortfall_vs_model.png"),
                                     ("hist", "shortfall_hist.png"))}  # fmt: skip
    df.to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps({**s, "meta": meta}, indent=1, default=str))
    paths["md"].write_text(markdown(df, s, meta))
    setup = pd.DataFrame({"setting": list(meta), "value": [str(v) for v in meta.values()]})
    shown = df[[c for c in SHOWN if c in df]]
    sections = [
        ("Setup", table(setup)),
        ("Measured vs model", img(scatter_png(df, paths["scatter"]))),
        ("Distribution", img(hist_png(df, paths["hist"]))),
        ("By pair", table(pd.DataFrame(s["by_pair"]))),
        ("By New York session block of the decision time", table(pd.DataFrame(s["by_session"]))),
        ("Trades", table(shown)),
    ]  # fmt: skip
    ok = bool(s["in_band_known"]) and (s["in_band_share"] or 0) >= 0.8
    write_html(paths["html"], "Implementation shortfall", (ok, headline(s)), sections)
    return paths
