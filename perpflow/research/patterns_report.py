"""Run pattern mining end to end and write `patterns.parquet` and `patterns.html`.

The HTML lists the survivors at q <= SURVIVOR_Q (BH over every tested pattern x pair cell) with
their counts, the number of patterns and cells tested, and the p-value histogram of all tested
cells (flat under no effect at all).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.reports.html import img, png_file, table, write_html  # noqa: E402
from perpflow.research.patterns import enumerate_patterns  # noqa: E402
from perpflow.research.patterns_data import candle_table, load_events  # noqa: E402
from perpflow.research.patterns_mine import mine  # noqa: E402

log = logging.getLogger(__name__)

SURVIVOR_Q = 0.10
SHOWN = ["pattern", "pair", "n", "mean", "ci_lo", "ci_hi", "base_mean", "lift", "p", "q"]


@dataclass
class PatternRun:
    """What one run tested and found: the cells table, counts and where it was written."""

    cells: pd.DataFrame
    patterns: int
    cells_tested: int
    draws: int
    seconds: float
    parquet: Path
    html: Path

    @property
    def survivors(self) -> pd.DataFrame:
        """Tested cells with q <= SURVIVOR_Q, smallest q first."""
        c = self.cells
        return c[c["tested"] & (c["q"] <= SURVIVOR_Q)].sort_values(["q", "p"])


def _p_histogram(cells: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(cells.loc[cells["tested"], "p"].dropna(), bins=20, range=(0, 1), color="#93c5fd")
    ax.set_xlabel("empirical p (two-sided, vs matched random candles)")
    ax.set_ylabel("cells")
    ax.set_title("p-values of every tested pattern x pair cell (flat if nothing is there)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return png_file(path)


def write_report(run: PatternRun, out: Path, events: Path) -> Path:
    """patterns.html beside the parquet: verdict, survivors, counts, p-value histogram."""
    surv = run.survivors
    sentence = (f"{len(surv)} of {run.cells_tested} tested pattern x pair cells survive "
                f"Benjamini-Hochberg at q <= {SURVIVOR_Q} ({run.patterns} patterns declared). ")  # fmt: skip
    sentence += ("Survivors are candidates for an out-of-sample check, not findings."
                 if len(surv) else "No cell survives: none is told apart from matched random candles at this FDR.")  # fmt: skip
    counts = pd.DataFrame({
        "what": ["events file", "patterns declared", "cells (patterns x pairs + ALL)",
                 "cells tested (n >= min count)", "survivors (q <= 0.10)", "seconds"],
        "value": [str(events), run.patterns, len(run.cells), run.cells_tested, len(surv),
                  round(run.seconds, 1)],
    })  # fmt: skip
    sections = [("Survivors", table(surv[SHOWN]) if len(surv) else "<p>none</p>"),
                ("What was tested", table(counts)),
                ("p-values", img(_p_histogram(run.cells, out / "patterns_p.png")))]  # fmt: skip
    return write_html(out / "patterns.html", "Session patterns vs matched random candles",
                      (False, sentence), sections)  # fmt: skip


def run_patterns(events_path: Path, datadir: Path, out: Path, *, timeframe: str = "5m",
                 draws: int = 1000, min_count: int = 30, seed: int = 0) -> PatternRun:  # fmt: skip
    """Load the events file and candles, test every declared pattern, write the parquet and
    the HTML into `out`; returns the run (cells, counts, paths)."""
    t0 = time.monotonic()
    events = load_events(events_path)
    start, end = events["date"].min(), events["date"].max()
    pairs = sorted(events["pair"].unique())
    candles = candle_table(Path(datadir), pairs, timeframe, start, end)
    cells = mine(events, candles, draws=draws, min_count=min_count, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parquet = out / "patterns.parquet"
    cells.to_parquet(parquet, index=False)
    run = PatternRun(cells, len(enumerate_patterns(events["event"].unique())),
                     int(cells["tested"].sum()), draws, time.monotonic() - t0, parquet,
                     out / "patterns.html")  # fmt: skip
    write_report(run, out, Path(events_path))
    log.info("%d patterns, %d cells tested in %.0f s", run.patterns, run.cells_tested, run.seconds)
    return run
