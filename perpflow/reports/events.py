"""HTML report of the event study: one fan chart per event and the cells surviving q <= 0.10.

Fan chart: the mean forward path (bps, signed by the event's direction: up = continuation) over
the longest horizon with its block-bootstrap 95% band, against the matched baseline's centre and
95% band (random candles of the same pair, session block and volatility decile; the band
widened by the events' design effect, as the p-values are).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from perpflow.reports.html import img, png_file, table, write_html

Q_SURVIVE = 0.10
FANS_PER_ROW = 3


def fan_grid_png(fans: dict[str, pd.DataFrame], path: Path) -> str:
    """All events' fan charts in one grid picture; base64 of the PNG written to `path`."""
    names = sorted(fans)
    rows = max(1, math.ceil(len(names) / FANS_PER_ROW))
    fig, axes = plt.subplots(rows, FANS_PER_ROW, figsize=(4.2 * FANS_PER_ROW, 3.0 * rows),
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes.ravel(), names, strict=False):
        f = fans[name]
        ax.fill_between(
            f["hours"], f["base_lo"], f["base_hi"], color="#d1d5db", label="baseline 95%"
        )
        ax.plot(f["hours"], f["base"], color="#6b7280", linewidth=0.8)
        ax.fill_between(f["hours"], f["lo"], f["hi"], color="#93c5fd", alpha=0.7, label="event 95%")
        ax.plot(f["hours"], f["mean"], color="#1d4ed8", linewidth=1.2)
        ax.axhline(0, color="#111827", linewidth=0.5)
        ax.set_title(f"{name} (n={int(f['n'].iloc[0])})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    if names:
        axes[0, 0].legend(fontsize=7, loc="upper left")
        axes[0, 0].set_ylabel("signed bps (continuation +)")
    # fixed margins: tight or constrained layout of a grid this size takes seconds to solve
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.03, top=0.98, wspace=0.25, hspace=0.45)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return png_file(path)


def survivors(cells: pd.DataFrame, q: float = Q_SURVIVE) -> pd.DataFrame:
    """Tested cells with q <= `q`, best q first."""
    s = cells[cells["tested"] & (cells["q"] <= q)]
    return s.sort_values(["q", "p"], kind="stable").reset_index(drop=True)


def _verdict(cells: pd.DataFrame) -> tuple[bool, str]:
    tested = int(cells["tested"].sum())
    n = len(survivors(cells))
    if n == 0:
        return False, (f"No cell survives q <= {Q_SURVIVE:.2f} among {tested} cell x horizon "
                       "tests: no event read beats its matched baseline beyond chance here.")  # fmt: skip
    return True, (f"{n} of {tested} cell x horizon tests survive q <= {Q_SURVIVE:.2f} (Benjamini-"
                  "Hochberg over every test). Exploratory: confirm out of sample before use; "
                  "a mean beyond the baseline is not yet a positive trade after fees.")  # fmt: skip


def events_report(cells: pd.DataFrame, fans: dict[str, pd.DataFrame], path: Path, *,
                  meta: dict) -> Path:  # fmt: skip
    """Write the report HTML (and `fans.png` beside it); returns the HTML path."""
    path = Path(path)
    shown = ["event", "pair", "block", "regime", "horizon", "n", "mean_bps", "ci_lo_bps",
             "ci_hi_bps", "base_bps", "mean_net_bps", "rev_net_bps", "cont_rate", "mfe_atr",
             "mae_atr", "p", "q"]  # fmt: skip
    surv = survivors(cells)
    top = cells[cells["tested"]].sort_values(["q", "p"], kind="stable").head(30)
    setup = pd.DataFrame({"setting": list(meta), "value": [str(v) for v in meta.values()]})
    counts = cells.groupby("horizon").agg(cells=("n", "size"), tested=("tested", "sum"))
    sections = [
        ("Setup", table(setup) + "<p>Cells: event x pair x session block x volatility regime "
         "(deciles 0-2 low, 3-6 mid, 7-9 high), each with an 'all' margin; horizons 15m, 1h, "
         "4h, 1d. Tested: cells with at least min_events events; p against the matched "
         "baseline's draws, q by Benjamini-Hochberg over every test. mean_bps is the signed "
         "gross return (continuation +); mean_net_bps trades the continuation, rev_net_bps the "
         "reversal, both after the taker fee on entry and exit.</p>"),
        ("Cells per horizon", table(counts.reset_index())),
        (f"Cells surviving q <= {Q_SURVIVE:.2f} ({len(surv)})",
         table(surv[shown]) if len(surv) else "<p>None.</p>"),
        ("Fan charts: mean signed path after each event vs the matched baseline",
         img(fan_grid_png(fans, path.with_name("fans.png")))),
        ("Best 30 tested cells by q (whether or not they survive)", table(top[shown])),
    ]  # fmt: skip
    return write_html(path, "Event study: which reads carry information", _verdict(cells), sections)
