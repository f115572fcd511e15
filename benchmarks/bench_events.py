"""The event study (`perpflow research events`) on real candles: wall time, candles/s, linearity.

6 pairs x 13.5 months of Binance 5m candles (`../shared/data/binance`, 2024-12-31..2026-02-19,
~700k candles) with 1,000 baseline draws per cell. Runs the first quarter, half and the whole
span in one process and prints each time against the quarter's (2 and 4 = linear in candles).
Goal (issue 16): the whole span in < 60 s on this 2-core machine. Skips when the data is absent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance"
PAIRS = [f"{b}/USDT:USDT" for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB")]
DRAWS = 1000


def _run(candles: dict[str, pd.DataFrame]) -> tuple[float, float, float, int, int]:
    """(features + events s, cells + baseline s, fan charts s, candles studied, tests)."""
    from perpflow.research.cells import cell_stats, fan_data
    from perpflow.research.study import build_inputs

    t0 = time.perf_counter()
    inputs = build_inputs(DATA, PAIRS, candles=candles, progress=False)
    t1 = time.perf_counter()
    cells = cell_stats(inputs, pairs=PAIRS, draws=DRAWS, progress=False)
    t2 = time.perf_counter()
    fan_data(inputs)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, inputs.candles, int(cells["tested"].sum())


def main() -> dict:
    if not DATA.exists():
        print(
            f"SKIPPED: needs real candles at {DATA} (../shared/data beside the repo); absent here"
        )
        return {}
    from perpflow.data.files import load_candles

    logging.getLogger("perpflow").setLevel(logging.ERROR)  # absent books/OI are logged per pair
    full = {p: load_candles(DATA, p) for p in PAIRS}
    print(f"event study, {len(PAIRS)} pairs of 5m candles, {DRAWS} baseline draws per cell:")
    print(f"  {'span':<8}{'candles':>10}{'features':>10}{'cells':>8}{'fans':>7}{'total':>8}"
          f"{'cand/s':>10}{'vs 1/4':>8}{'tests':>7}")  # fmt: skip
    out, base = {}, None
    for share in (0.25, 0.5, 1.0):
        cut = {p: df.iloc[: int(len(df) * share)].reset_index(drop=True) for p, df in full.items()}
        t_feat, t_cells, t_fan, n, tests = _run(cut)
        total = t_feat + t_cells + t_fan
        base = base or total
        print(f"  {share:<8.2f}{n:>10,}{t_feat:>9.1f}s{t_cells:>7.1f}s{t_fan:>6.1f}s{total:>7.1f}s"
              f"{n / total:>10,.0f}{total / base:>8.2f}{tests:>7}")  # fmt: skip
        out[share] = total
    verdict = "OK" if out[1.0] < 60 else "ABOVE GOAL"
    print(
        f"  whole span: {out[1.0]:.1f} s (goal < 60 s) {verdict}; "
        f"ratio full / quarter {out[1.0] / out[0.25]:.2f} (4 = linear)"
    )
    return out


if __name__ == "__main__":
    main()
