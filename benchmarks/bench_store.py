"""Event-store writes: what schema validation and the never-twice check cost per write.

Reported per batch shape, as the median of repeated writes: a recorder flush of book snapshots
(10 rows x 25 levels), a collector flush of liquidations (150 rows over 3 symbols), and an
import of 20,000 liquidations into a store that already holds them (every row compared with the
stored one). The baseline, measured in the same run, is writing the same rows with a plain
`DataFrame.to_parquet` per partition (no validation, no checks): the ratio is the store's
overhead over the floor.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.store import store_events

T0 = pd.Timestamp("2026-01-05", tz="UTC")


def _book(i: int) -> pd.DataFrame:
    ts = T0 + pd.Timedelta(seconds=i) + pd.to_timedelta(np.arange(10) * 100, unit="ms")
    rows = {"exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts, "ts_recv": ts, "nonce": 1.0}
    for k in range(25):
        rows |= {
            f"bid_px_{k}": 100 - k * 0.01,
            f"bid_sz_{k}": 1.0,
            f"ask_px_{k}": 100.01 + k * 0.01,
            f"ask_sz_{k}": 2.0,
        }
    return pd.DataFrame(rows)


def _liq(n: int, i: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + i)
    ts = (
        T0
        + pd.Timedelta(seconds=5 * i)
        + pd.to_timedelta(np.sort(rng.integers(0, 5000, n)), unit="ms")
    )
    price = rng.uniform(90, 110, n)
    qty = rng.uniform(0.01, 5, n)
    return pd.DataFrame({"exchange": "binance", "symbol": rng.choice(["BTCUSDT", "ETHUSDT", "SOLUSDT"], n),
                         "side": rng.choice(["buy", "sell"], n), "price": price, "qty": qty,
                         "notional": price * qty, "ts_event": ts, "ts_recv": ts})  # fmt: skip


def _plain(root: Path, df: pd.DataFrame, i: int) -> None:
    for (ex, sym), part in df.groupby(["exchange", "symbol"]):
        folder = root / f"exchange={ex}" / f"symbol={sym}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / f"part-{i}.parquet", index=False)


def _median_ms(fn, batches) -> float:
    times = []
    for i, b in enumerate(batches):
        t = time.perf_counter()
        fn(b, i)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main(repeats: int = 40) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for name, kind, batches in (
            ("recorder flush: 10 book snapshots x 25 levels", "book", [_book(i) for i in range(repeats)]),
            ("collector flush: 150 liquidations, 3 symbols", "liquidations", [_liq(150, i) for i in range(repeats)]),
        ):  # fmt: skip
            base = _median_ms(lambda b, i, n=name: _plain(root / "plain" / n, b, i), batches)
            store = _median_ms(
                lambda b, i, k=kind, n=name: store_events(root / "store" / n, k, b), batches
            )
            print(
                f"  {name}: store {store:.1f} ms, plain parquet {base:.1f} ms (x{store / base:.2f})"
            )
        big = _liq(20_000, 0, seed=7)
        store_events(root / "imp", "liquidations", big, complete=True)
        t = time.perf_counter()
        res = store_events(root / "imp", "liquidations", big, complete=True)
        again = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        _plain(root / "plain-imp", big, 0)
        base = 1000 * (time.perf_counter() - t)
        print(
            f"  re-import of 20,000 liquidations already stored ({res.already} found): {again:.0f} ms, "
            f"plain parquet write {base:.0f} ms (x{again / base:.2f})"
        )


if __name__ == "__main__":
    main()
