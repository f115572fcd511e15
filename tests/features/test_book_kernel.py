"""The fused numba book kernel (`snapshot_features`) against the NumPy implementation it replaced
(tests/features/book_reference.py) on books built to hit every rule: NaN holes, missing sizes,
zero and negative sizes, books shallower than 10 / 25 levels and deeper than 25, sides of
different depths, 1-level books, crossed, zero-mid and priceless rows, empty books."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpflow.features.orderbook import Book, book_from_wide, capture_sessions, snapshot_features
from tests.conftest import shared_data_dir
from tests.features.book_reference import reference_snapshot_features

# NumPy sums pairwise, the kernel level by level: the last bits differ, and differences of
# near-equal sums (the vwap spread, depth_delta, imbalances near 0) lose relative digits, so an
# absolute floor of 1e-9 (bps, sizes) beside the relative 1e-12.
RTOL, ATOL = 1e-12, 1e-9


def assert_same(book: Book, **params) -> pd.DataFrame:
    """The kernel's frame equals the reference's: columns, dtypes, NaN/inf places, values."""
    ours = snapshot_features(book, **params)
    with np.errstate(all="ignore"):  # the reference warns on the damaged rows
        ref = reference_snapshot_features(book, **params)
    assert list(ours.columns) == list(ref.columns)
    assert (ours.dtypes == ref.dtypes).all(), (ours.dtypes[ours.dtypes != ref.dtypes], ref.dtypes)
    pd.testing.assert_series_equal(ours["ts"], ref["ts"])
    for col in ref.columns[1:]:
        np.testing.assert_allclose(ours[col], ref[col], rtol=RTOL, atol=ATOL, equal_nan=True,
                                   err_msg=col)  # fmt: skip
    return ours


def _side(rng: np.random.Generator, n: int, levels: int, mid: np.ndarray, sign: float):
    """Prices walking away from `mid` (random tick gaps) and gamma sizes, then damaged: NaN
    price holes and shallow rows (NaN tails), NaN, zero, negative and infinite sizes."""
    gaps = rng.choice([0.01, 0.02, 0.05, 0.5], size=(n, levels))
    px = mid[:, None] + sign * np.cumsum(gaps, axis=1)
    sz = rng.gamma(2, 1, (n, levels))
    holes = rng.random((n, levels)) < 0.05
    px[holes] = np.nan
    sz[holes & (rng.random((n, levels)) < 0.7)] = np.nan  # most holes lose their size too
    depth = rng.integers(0, levels + 1, n)  # a shallow book: NaN beyond its depth
    shallow = rng.random(n) < 0.2
    tail = np.arange(levels)[None, :] >= depth[:, None]
    px[shallow[:, None] & tail] = np.nan
    sz[shallow[:, None] & tail] = np.nan
    sz[rng.random((n, levels)) < 0.05] = 0.0
    sz[rng.random((n, levels)) < 0.05] = np.nan  # a price without a size
    sz[rng.random((n, levels)) < 0.002] = -1.0
    for inf in (np.inf, -np.inf):  # one infinite size in a few rows
        one = rng.random(n) < 0.002
        sz[one, rng.integers(0, levels, one.sum())] = inf
    return px, sz


def _damaged_book(n: int, bid_levels: int, ask_levels: int, seed: int) -> Book:
    rng = np.random.default_rng(seed)
    mid = 100 + np.cumsum(rng.normal(0, 0.05, n))
    bp, bs = _side(rng, n, bid_levels, mid, -1.0)
    ap, as_ = _side(rng, n, ask_levels, mid, 1.0)
    rows = rng.choice(n, size=min(n, 12), replace=False)
    bp[rows[0:2], 0] = ap[rows[0:2], 0] + 0.3  # crossed
    bp[rows[2:4], 0], ap[rows[2:4], 0] = -ap[rows[2:4], 0], ap[rows[2:4], 0]  # mid exactly 0
    bp[rows[4:6], 0] = np.nan  # no best bid: mid NaN
    bs[rows[6:8]], as_[rows[6:8]] = 0.0, 0.0  # all sizes zero
    bp[rows[8:10]], bs[rows[8:10]] = np.nan, np.nan  # an empty bid side
    as_[rows[10:12]] = np.nan  # ask prices without any size
    ts = np.datetime64("2026-01-01", "ns") + np.arange(n) * np.timedelta64(250, "ms")
    return Book(ts, bp, bs, ap, as_)


@pytest.mark.parametrize(
    "bid_levels,ask_levels",
    [(25, 25), (20, 20), (10, 10), (11, 9), (7, 7), (1, 1), (1, 25), (25, 3), (30, 30)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_equals_the_numpy_reference_on_damaged_books(bid_levels, ask_levels, seed):
    book = _damaged_book(3_000, bid_levels, ask_levels, seed)
    f = assert_same(book)
    assert f["imb_w"].notna().mean() > 0.5, "the comparison covered ordinary rows too"
    assert_same(book, decay_bps=3.0, breadth_bps=25.0)


def test_blocks_of_rows_do_not_show(monkeypatch):
    from perpflow.features import _book_kernel

    book = _damaged_book(1_000, 25, 25, seed=7)
    whole = snapshot_features(book)
    monkeypatch.setattr(_book_kernel, "_BLOCK", 7)  # row-to-row columns across every block edge
    pd.testing.assert_frame_equal(assert_same(book), whole)


@pytest.mark.parametrize("threads", ["1", "2", "3", "8"])
def test_threads_do_not_show(monkeypatch, threads):
    from perpflow.features import _book_kernel

    book = _damaged_book(1_000, 25, 25, seed=8)
    monkeypatch.setenv("PERPFLOW_BOOK_THREADS", "1")
    whole = snapshot_features(book)
    monkeypatch.setattr(_book_kernel, "_BLOCK", 7)  # runs of blocks: every thread's first row
    monkeypatch.setenv("PERPFLOW_BOOK_THREADS", threads)
    spans = _book_kernel._spans(len(book.ts), _book_kernel.threads())
    assert len(spans) == int(threads) and spans[0][0] == 0 and spans[-1][1] == 1_000
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    pd.testing.assert_frame_equal(assert_same(book), whole)


def test_thread_count_is_checked(monkeypatch):
    from perpflow.features import _book_kernel

    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("PERPFLOW_BOOK_THREADS", bad)
        with pytest.raises(ValueError, match="PERPFLOW_BOOK_THREADS"):
            snapshot_features(_damaged_book(10, 5, 5, seed=5))
    monkeypatch.delenv("PERPFLOW_BOOK_THREADS")
    assert 1 <= _book_kernel.threads() <= 8


def test_empty_and_one_row_books():
    for levels in (1, 10, 25):
        empty = Book(np.array([], "datetime64[ns]"), *(np.empty((0, levels)) for _ in range(4)))
        assert len(assert_same(empty)) == 0
        one = _damaged_book(1, levels, levels, seed=3)
        f = assert_same(one)
        assert np.isnan(f["depth_delta"].iloc[0]) and np.isnan(f["cliff_bid"].iloc[0])


def test_layouts_and_dtypes_in_give_the_same_answer():
    book = _damaged_book(500, 25, 25, seed=4)
    want = snapshot_features(book)
    fortran = Book(book.ts, *(np.asfortranarray(a) for a in
                              (book.bid_px, book.bid_sz, book.ask_px, book.ask_sz)))  # fmt: skip
    pd.testing.assert_frame_equal(snapshot_features(fortran), want)
    strided = Book(
        book.ts[::2], *(a[::2] for a in (book.bid_px, book.bid_sz, book.ask_px, book.ask_sz))
    )
    assert_same(strided)


def test_bad_books_and_parameters_raise():
    book = _damaged_book(10, 5, 5, seed=5)
    with pytest.raises(ValueError, match="no levels"):
        snapshot_features(Book(book.ts, *(np.empty((10, 0)) for _ in range(4))))
    with pytest.raises(ValueError, match="same number of levels"):
        snapshot_features(Book(book.ts, book.bid_px, book.bid_sz[:, :3], book.ask_px, book.ask_sz))
    with pytest.raises(ValueError, match="rows"):
        snapshot_features(Book(book.ts, book.bid_px[:4], book.bid_sz[:4], book.ask_px, book.ask_sz))
    for bad in ({"decay_bps": 0.0}, {"decay_bps": np.nan}, {"breadth_bps": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            snapshot_features(book, **bad)


_FIRST_USE = """
import logging, sys
logging.basicConfig()
import numpy as np
from perpflow.features.orderbook import Book, snapshot_features
print("numba" in sys.modules)
a = np.ones((3, 2))
f = snapshot_features(Book(np.arange(3).astype("datetime64[ns]"), a * 99, a, a * 101, 3 * a))
print("numba" in sys.modules, f["imb_10"].tolist())
"""


def test_numba_loads_on_first_use_and_the_kernel_runs_without_a_cache_dir():
    # no cache locator can serve the module (as where no cache dir is writable): one warning,
    # compiled in the process, same answer; numba itself is imported by the first call only
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "ZipCacheLocator"}
    run = subprocess.run([sys.executable, "-c", _FIRST_USE], env=env, capture_output=True,
                         text=True, cwd=Path(__file__).parents[2], timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["False", "True [-0.5, -0.5, -0.5]"]
    assert run.stderr.count("numba cache unavailable") == 1, run.stderr


@pytest.mark.parametrize(
    "name,symbol",
    [
        ("bybit_linear_l2_top20_2026-08-09", "BTCUSDT"),
        ("binance_usdm_l2_top20_2021-07-22", "SUSHIUSDT"),
    ],
)
def test_kernel_equals_the_reference_on_real_books(name, symbol):
    raw = pd.read_parquet(shared_data_dir("raw/cryptofeed_sample_data/derived") / f"{name}.parquet")
    book = book_from_wide(capture_sessions(raw[raw["symbol"] == symbol])[0])
    assert assert_same(book)["imb_w"].notna().all()
