"""Order-book kernels in snapshots per second against this machine's memory bandwidth (measured in
the same run), and per-candle order flow against Freqtrade's `populate_dataframe_with_trades`.

Goal (issue 5): at least 3 million 25-level snapshots per second on one core for the book
kernels. The bandwidth line says how many snapshots per second merely reading the four
(n, 25) float64 arrays once would allow: the ceiling for any kernel that touches them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

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

    from perpflow.features.orderbook import _imb, _top, snapshot_features
    from perpflow.features.orderflow import candle_flow

    gbs = _bandwidth_gbs()
    bytes_per_snapshot = 4 * LEVELS * 8
    ceiling = gbs * 1e9 / bytes_per_snapshot
    book = _book(N)
    t_imb = _best(
        lambda: (_imb(_top(book.bid_sz, 10), _top(book.ask_sz, 10)), _imb(book.bid_sz, book.ask_sz))
    )
    t_all = _best(lambda: snapshot_features(book), repeats=3)
    print(
        f"memory bandwidth (copy, 1 thread): {gbs:.1f} GB/s -> reading {bytes_per_snapshot} B per "
        f"25-level snapshot once: {ceiling / 1e6:.1f} M snapshots/s ceiling"
    )
    print(
        f"  imbalance top 10 + top 25, {N:,} snapshots: {N / t_imb / 1e6:5.1f} M/s "
        f"({N / t_imb / ceiling:.0%} of the ceiling; goal >= 3 M/s)"
    )
    print(
        f"  all snapshot features ({len(snapshot_features(_book(10)).columns) - 1} columns): "
        f"{N / t_all / 1e6:5.2f} M/s"
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
    return {"bandwidth_gbs": gbs, "imbalance_mps": N / t_imb / 1e6, "all_mps": N / t_all / 1e6,
            "flow_speedup": t_ft / t_ours}  # fmt: skip


if __name__ == "__main__":
    main()
