"""Event-store writes: what schema validation and the never-twice check cost per write.

Reported per batch shape, as the median of repeated writes: a recorder flush of book snapshots
(10 rows x 25 levels), a collector flush of liquidations (150 rows over 3 symbols), and an
import of 20,000 liquidations into a store that already holds them (every row compared with the
stored one). The baseline, measured in the same run, is writing the same rows with a plain
`DataFrame.to_parquet` per partition (no validation, no checks): the ratio is the store's
overhead over the floor.

Compaction (`perpflow store compact`): 1 s snapshots of 25 levels a side (the demo book
generator's levels and sizes, `perpflow.data.demo_books.book_rows`, one snapshot per second with
the mid a random walk on a 0.1 tick) written as the recorder writes them (one 2-row part per
flush), then compacted: files, bytes per snapshot before and after, and compaction speed. Then
one whole symbol-day (86,400 snapshots) compacted into its one daily file, whose size is the
goal's figure (issue 19: <= 30 MB); the ratio is against that goal.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.compact import compact
from perpflow.data.demo_books import book_rows
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


def main(repeats: int = 40) -> dict:
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
    return compaction()  # the goals table reads its day_mb


def _day_books(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` 1 s 25-level snapshots from 2026-01-05 00:00 UTC (the demo generator's levels)."""
    rng = np.random.default_rng(seed)
    mid = np.round(100_000 * np.exp(np.cumsum(rng.normal(0, 2e-5, n))), 1)
    start = pd.date_range("2026-01-05", periods=n, freq="min", tz="UTC")
    rows = book_rows(pd.DataFrame({"date": start, "open": mid}), exchange="binance",
                     symbol="BTCUSDT", seed=seed).iloc[::3]  # fmt: skip
    ts = pd.date_range("2026-01-05", periods=n, freq="s", tz="UTC")
    return rows.assign(ts_event=ts, ts_recv=ts).reset_index(drop=True)


def compaction(flushes: int = 300) -> dict:
    """Recorder-like parts compacted, then one symbol-day: the figures in the docstring."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        day = _day_books(86_400)
        small = day.iloc[: 2 * flushes]
        for i in range(0, len(small), 2):
            store_events(root / "parts", "book", small.iloc[i : i + 2])
        t = time.perf_counter()
        r = compact(root / "parts", "book", before="2026-01-06")
        took = time.perf_counter() - t
        print(
            f"  compaction of {r.files_before} recorder parts ({r.rows} snapshots): "
            f"{r.bytes_before / r.rows:,.0f} -> {r.bytes_after / r.rows:,.0f} bytes/snapshot, "
            f"{r.files_before} -> {r.files_after} file(s), {r.files_before / took:,.0f} parts/s"
        )
        store_events(root / "day", "book", day)
        t = time.perf_counter()
        r = compact(root / "day", "book", before="2026-01-06")
        took = time.perf_counter() - t
        mb = r.bytes_after / 1e6
        print(
            f"  one symbol-day of 1 s 25-level snapshots: {mb:.1f} MB compacted "
            f"({r.bytes_after / r.rows:,.0f} bytes/snapshot, zstd; {r.bytes_before / 1e6:.1f} MB "
            f"as one snappy part) in {took:.1f} s; goal <= 30 MB (x{mb / 30:.2f})"
        )
        return {"day_mb": mb, "bytes_per_snapshot": r.bytes_after / r.rows}


if __name__ == "__main__":
    main()
