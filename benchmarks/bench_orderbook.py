"""Order-book kernels in snapshots per second against this machine's memory bandwidth (measured in
the same run), and per-candle order flow against Freqtrade's `populate_dataframe_with_trades`.

Goal (issues 5 and 19): at least 3 million 25-level snapshots per second on one core for the
book kernels, all 19 snapshot columns included. The bandwidth line says how many snapshots per
second merely reading the four (n, 25) float64 arrays once would allow: the ceiling for any
kernel that touches them. `snapshot_features` (the fused numba kernel) is timed against the NumPy
implementation it replaced (tests/features/book_reference.py) in the same run, interleaved, held
to one thread (the goal's figure) and on the threads it takes by default; the kernel's first call
is timed in fresh processes with a cold and a warm numba cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the NumPy reference lives in tests/
    sys.path.insert(0, str(REPO))

N = 1_000_000
LEVELS = 25


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _bandwidth_gbs() -> float:
    """Read+write bandwidth of a large copy (GB/s), single thread."""
    src = np.ones(100_000_000 // 8 * 4)  # 400 MB
    dst = np.empty_like(src)
    t = _best(lambda: np.copyto(dst, src))
    return 2 * src.nbytes / t / 1e9


def _one_thread(fn):
    """`fn()` with the book kernel held to one thread (the goal's figure is one core's)."""
    with mock.patch.dict(os.environ, {"PERPFLOW_BOOK_THREADS": "1"}):
        return fn()


def _interleaved(fns: dict, repeats: int = 3) -> dict[str, float]:
    """Best time of each function, run in turns so a busy machine slows them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


_FIRST_CALL = """
import json, sys, time
t = time.perf_counter()
import numpy as np
from perpflow.features.orderbook import Book, snapshot_features
t_import = time.perf_counter() - t
numba_at_import = "numba" in sys.modules
t = time.perf_counter()
import perpflow.features._book_kernel  # numba, llvmlite: what the first call imports
t_numba = time.perf_counter() - t
a = np.random.default_rng(0).gamma(2, 1, (100, 25))
book = Book(np.arange(100).astype("datetime64[ns]"), 100 - np.cumsum(a, 1) / 100, a,
            100 + np.cumsum(a, 1) / 100, a)
t = time.perf_counter()
snapshot_features(book)
t_first = time.perf_counter() - t
t = time.perf_counter()
snapshot_features(book)
print(json.dumps({"import": t_import, "numba_at_import": numba_at_import, "numba": t_numba,
                  "first": t_first, "second": time.perf_counter() - t}))
"""


def _first_calls() -> tuple[dict, dict]:
    """The kernel's first call in a fresh process with an empty numba cache, then in another
    fresh process reading the cache the first one wrote (seconds; numba's import included)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [json.loads(subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, cwd=REPO,
                                          check=True, capture_output=True, text=True).stdout)
                for _ in range(2)]  # fmt: skip
    return runs[0], runs[1]


def _book(n: int):
    from perpflow.features.orderbook import Book

    rng = np.random.default_rng(0)
    mid = 100 + np.cumsum(rng.normal(0, 0.01, n))
    steps = np.arange(1, LEVELS + 1) * 0.01
    ts = (np.datetime64("2026-01-01") + np.arange(n) * np.timedelta64(100, "ms")).astype(
        "datetime64[ns]"
    )
    return Book(ts, mid[:, None] - steps, rng.gamma(2, 1, (n, LEVELS)), mid[:, None] + steps,
                rng.gamma(2, 1, (n, LEVELS)))  # fmt: skip


def main() -> dict:
    from freqtrade.data.converter.orderflow import populate_dataframe_with_trades

    from perpflow.features import _book_kernel
    from perpflow.features.orderbook import snapshot_features
    from perpflow.features.orderflow import candle_flow
    from tests.features.book_reference import _imb, _top, reference_snapshot_features

    cold, warm = _first_calls()
    gbs = _bandwidth_gbs()
    bytes_per_snapshot = 4 * LEVELS * 8
    ceiling = gbs * 1e9 / bytes_per_snapshot
    book = _book(N)
    t_imb = _best(
        lambda: (_imb(_top(book.bid_sz, 10), _top(book.ask_sz, 10)), _imb(book.bid_sz, book.ask_sz))
    )
    snapshot_features(_book(10))  # compiled (or loaded from the cache) before timing
    threads = _book_kernel.threads()
    t = _interleaved({"all": lambda: _one_thread(lambda: snapshot_features(book)),
                      "threads": lambda: snapshot_features(book),
                      "ref": lambda: reference_snapshot_features(book)})  # fmt: skip
    all_mps, ref_mps = N / t["all"] / 1e6, N / t["ref"] / 1e6
    threads_mps = N / t["threads"] / 1e6
    print(
        f"memory bandwidth (copy, 1 thread): {gbs:.1f} GB/s -> reading {bytes_per_snapshot} B per "
        f"25-level snapshot once: {ceiling / 1e6:.1f} M snapshots/s ceiling"
    )
    print(
        f"  imbalance top 10 + top 25 (NumPy), {N:,} snapshots: {N / t_imb / 1e6:5.1f} M/s "
        f"({N / t_imb / ceiling:.0%} of the ceiling; goal >= 3 M/s)"
    )
    print(
        f"  all snapshot features ({len(snapshot_features(_book(10)).columns) - 1} columns): "
        f"{all_mps:5.2f} M/s (goal >= 3 M/s: {'met' if all_mps >= 3 else 'not met'}; "
        f"{t['ref'] / t['all']:.1f} x the NumPy reference measured in the same run, "
        f"{ref_mps:.2f} M/s; {all_mps * 1e6 / ceiling:.0%} of the ceiling), one thread"
    )
    print(
        f"  the same on {threads} thread(s) (PERPFLOW_BOOK_THREADS, default: this process's "
        f"CPUs): {threads_mps:5.2f} M/s, {t['all'] / t['threads']:.2f} x one thread"
    )
    print(
        f"  first call in a fresh process: {cold['first']:.1f} s with the numba cache cold "
        f"(compiling), {warm['first']:.2f} s warm (loading it), then {warm['second'] * 1e3:.1f} ms "
        f"for 100 snapshots; before it, importing numba {warm['numba']:.2f} s; importing "
        f"perpflow.features.orderbook {warm['import']:.2f} s (numba "
        f"{'imported' if warm['numba_at_import'] else 'not imported'})"
    )

    rng = np.random.default_rng(1)
    n_trades, candles = 60_000, 240
    start = pd.Timestamp("2026-01-01", tz="UTC")
    trades = pd.DataFrame({
        "date": start + pd.to_timedelta(np.sort(rng.uniform(0, candles * 60, n_trades)), unit="s"),
        "side": rng.choice(["buy", "sell"], n_trades), "amount": rng.gamma(1, 1, n_trades),
        "price": 100 + rng.normal(0, 0.1, n_trades),
    })  # fmt: skip
    trades["timestamp"] = trades["date"].astype("int64") // 1_000_000
    frame = pd.DataFrame({"date": pd.date_range(start, periods=candles, freq="1min"), "open": 1.0,
                          "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})  # fmt: skip
    cfg = {"timeframe": "1m", "orderflow": {"max_candles": 10_000, "scale": 0.5, "imbalance_ratio": 3,
           "imbalance_volume": 0, "stacked_imbalance_range": 3, "cache_size": 10}}  # fmt: skip
    t_ft = _best(
        lambda: populate_dataframe_with_trades(None, cfg, frame.copy(), trades.copy()), repeats=1
    )
    t_ours = _best(lambda: candle_flow(frame["date"], trades, "1m"))
    print(
        f"order flow, {n_trades:,} trades on {candles} 1m candles: Freqtrade {t_ft:.2f} s, "
        f"perpflow {t_ours * 1e3:.1f} ms: {t_ft / t_ours:.0f}x faster (same bid/ask/delta columns)"
    )
    return {"bandwidth_gbs": gbs, "imbalance_mps": N / t_imb / 1e6, "all_mps": all_mps,
            "threads_mps": threads_mps, "threads": threads,
            "flow_speedup": t_ft / t_ours, "reference_mps": ref_mps,
            "all_vs_reference": t["ref"] / t["all"], "compile_cold_s": cold["first"],
            "compile_warm_s": warm["first"], "import_s": warm["import"],
            "numba_import_s": warm["numba"]}  # fmt: skip


if __name__ == "__main__":
    main()
