"""The NumPy implementation of `snapshot_features` that the numba kernel replaced (issue 19):
kept only as the oracle the kernel is tested against (tests/features/test_book_kernel.py) and
as the baseline of benchmarks/bench_orderbook.py. Vectorised over (rows x levels) blocks of
`chunk` rows, ~40 temporaries per block."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.features.orderbook import Book


def _top(a: np.ndarray, k: int) -> np.ndarray:
    return a[:, : min(k, a.shape[1])]


def _imb(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    b, a = bid.sum(axis=1), ask.sum(axis=1)  # sizes come NaN-free (missing level = 0)
    tot = b + a
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (b - a) / tot, np.nan)


def reference_snapshot_features(
    book: Book, *, decay_bps: float = 10.0, breadth_bps: float = 2.0, chunk: int = 8_192
) -> pd.DataFrame:
    """The per-snapshot columns listed in the module docstring, indexed like the snapshots.

    Rows are computed in blocks of `chunk` so the (rows x levels) temporaries stay in cache:
    about 4x faster on a million snapshots than one pass over whole arrays."""
    n = len(book.ts)
    cols: dict[str, np.ndarray] = {}
    for s in range(0, n, chunk) or [0]:  # an empty book still gives the columns
        block = _snapshot_block(book.bid_px[s : s + chunk], book.bid_sz[s : s + chunk], book.ask_px[s : s + chunk],
                                book.ask_sz[s : s + chunk], decay_bps, breadth_bps)  # fmt: skip
        for k, v in block.items():
            if k not in cols:
                cols[k] = np.empty(n, dtype=v.dtype)
            cols[k][s : s + chunk] = v
    out = {k: cols[k] for k in ("imb_10", "imb_25", "imb_w", "micro_dev_bps", "vw_spread_bps",
                                "depth_bid", "depth_ask")}  # fmt: skip
    depth_b, depth_a = cols["depth_bid"], cols["depth_ask"]
    out["depth_delta"] = np.diff(np.r_[np.nan, depth_b - depth_a])  # NaN first: no previous book
    for side, depth in (("bid", depth_b), ("ask", depth_a)):
        out[f"void_{side}_bps"] = np.where(
            np.isinf(cols[f"void_{side}_bps"]), np.nan, cols[f"void_{side}_bps"]
        )
        out[f"wall_{side}"], out[f"wall_{side}_bps"] = (
            cols[f"wall_{side}"],
            cols[f"wall_{side}_bps"],
        )
        prev = np.r_[np.nan, depth][:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"cliff_{side}"] = np.clip(1 - depth / prev, 0, None)
        out[f"breadth_{side}"] = cols[f"breadth_{side}"]
    out["mid"] = cols["mid"]
    frame = pd.DataFrame(out)
    frame.insert(0, "ts", pd.to_datetime(book.ts, utc=True))
    return frame


def _snapshot_block(bp: np.ndarray, bid_sz: np.ndarray, ap: np.ndarray, ask_sz: np.ndarray,
                    decay_bps: float, breadth_bps: float) -> dict[str, np.ndarray]:  # fmt: skip
    """`snapshot_features`' row-wise columns for a block of rows (no row-to-row columns; voids
    -inf where a side has fewer than two levels)."""
    bs, as_ = np.nan_to_num(bid_sz), np.nan_to_num(ask_sz)  # a missing level holds 0
    mid = (bp[:, 0] + ap[:, 0]) / 2
    bps = 1e4 / mid[:, None]
    dist_b, dist_a = (
        (mid[:, None] - bp) * bps,
        (ap - mid[:, None]) * bps,
    )  # bps from mid, NaN if absent
    with np.errstate(invalid="ignore", divide="ignore"):
        micro = (ap[:, 0] * bs[:, 0] + bp[:, 0] * as_[:, 0]) / (bs[:, 0] + as_[:, 0])
        wb = np.exp(np.nan_to_num(dist_b, nan=np.inf) / -decay_bps)
        wa = np.exp(np.nan_to_num(dist_a, nan=np.inf) / -decay_bps)
        b10, a10 = _top(bs, 10), _top(as_, 10)
        vwap_b = np.nansum(_top(bp, 10) * b10, 1) / b10.sum(1)
        vwap_a = np.nansum(_top(ap, 10) * a10, 1) / a10.sum(1)
        out = {
            "imb_10": _imb(b10, a10),
            "imb_25": _imb(_top(bs, 25), _top(as_, 25)),
            "imb_w": _imb(bs * wb, as_ * wa),
            "micro_dev_bps": (micro - mid) / mid * 1e4,
            "vw_spread_bps": (vwap_a - vwap_b) / mid * 1e4,
        }
    out["depth_bid"], out["depth_ask"] = _top(bs, 25).sum(1), _top(as_, 25).sum(1)
    rows = np.arange(len(bs))
    for side, px, sz, raw, dist, sign in (("bid", bp, bs, bid_sz, dist_b, -1.0),
                                          ("ask", ap, as_, ask_sz, dist_a, 1.0)):  # fmt: skip
        gaps = np.abs(np.diff(px, axis=1)) * bps
        gaps = (
            np.where(np.isnan(gaps), -np.inf, gaps)
            if gaps.shape[1]
            else np.full((len(px), 1), -np.inf)
        )
        out[f"void_{side}_bps"] = gaps.max(axis=1)
        big = sz.argmax(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"wall_{side}"] = sz[rows, big] / (sz.sum(1) / (~np.isnan(raw)).sum(1))
        out[f"wall_{side}_bps"] = sign * (px[rows, big] - mid) / mid * 1e4
        out[f"breadth_{side}"] = (np.abs(dist) <= breadth_bps).sum(axis=1)
    out["mid"] = mid
    return out
