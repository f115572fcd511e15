"""What a recorder run did (`RecordStats`): counters cheap enough to update per message or
snapshot and to write into a fleet shard's status file after every flush, so a supervisor or a
soak benchmark reads a long run's figures without reading the store back.

Book lag (sampling time minus the exchange time of the book's last change) is kept two ways: the
last samples (a bounded list, for "lag now") and a cumulative histogram over fixed log-spaced
bins (`LAG_EDGES_MS`, each bin ~14% wide, 1 ms to 1 h), whose counts add up across shards and
restarts and give p50/p99 over a whole run (`hist_quantile`) without keeping every sample.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from dataclasses import dataclass, field

LAG_EDGES_MS: list[float] = [0.0] + [round(10 ** (k / 16), 3) for k in range(0, 16 * 6 + 10)]
LAG_KEPT = 10_000  # recent lag samples kept (trimmed from 100,000)


def hist_quantile(counts: list[int], q: float) -> float | None:
    """The `q` quantile (0..1) of a lag histogram over `LAG_EDGES_MS`, in ms: the upper edge of
    the bin where the cumulative count reaches q (an upper bound, within one bin); None when
    empty."""
    total = sum(counts)
    if not total:
        return None
    want, cum = q * total, 0
    for i, n in enumerate(counts):
        cum += n
        if cum >= want and n:
            return LAG_EDGES_MS[i + 1] if i + 1 < len(LAG_EDGES_MS) else float("inf")
    return float("inf")


@dataclass
class RecordStats:
    """What a recorder run did: snapshots sampled, diff levels, diff messages and trades stored,
    re-syncs, reconnects, gaps recorded (`stale`: of them, frozen feeds; `gaps_by`: per
    "reason/stream"), part files written, failed write attempts and rows that could not be
    written (per record kind), and book lag (recent samples and the run's histogram)."""

    snapshots: int = 0
    diffs: int = 0
    diff_messages: int = 0
    trades: int = 0
    resyncs: int = 0
    reconnects: int = 0
    gaps: int = 0
    stale: int = 0
    files: int = 0
    write_failures: int = 0
    unwritten: dict[str, int] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)
    lag_hist: list[int] = field(default_factory=lambda: [0] * len(LAG_EDGES_MS))
    gaps_by: Counter = field(default_factory=Counter)
    liquidations: int = 0

    def note_lag(self, ms: float) -> None:
        """One snapshot's book lag (ms): kept in the recent samples and the histogram."""
        self.lag_ms.append(ms)
        self.lag_hist[max(bisect.bisect_right(LAG_EDGES_MS, ms) - 1, 0)] += 1
        if len(self.lag_ms) > 10 * LAG_KEPT:
            del self.lag_ms[:-LAG_KEPT]

    def line(self, elapsed: float) -> str:
        """A progress line over `elapsed` seconds (book lag p50 of the last 1,000 snapshots)."""
        lag = statistics.median(self.lag_ms[-1000:]) if self.lag_ms else float("nan")
        return (f"book: {self.snapshots} snapshots ({self.snapshots / elapsed:.1f}/s), {self.diffs} diff "
                f"levels stored ({self.diffs / elapsed:.0f}/s), {self.trades} trades, lag p50 {lag:.0f} ms, "
                f"resyncs {self.resyncs}, reconnects {self.reconnects}, gaps {self.gaps} ({self.stale} "
                f"stale feed), files {self.files}, failed writes {self.write_failures}")  # fmt: skip
