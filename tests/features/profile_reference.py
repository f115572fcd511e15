"""The NumPy volume histograms `volume_profile` used before its numba kernel
(perpflow/features/_profile_kernel.py), kept only as the oracle the kernel is tested against
(tests/features/test_profile_kernel.py)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def reference_histograms(
    price, volume, low, high, ends, starts, window: int, bins: int, chunk=4096
):
    """Volume histograms of rows starts[i]..ends[i] (at most `window` rows each).

    Returns (hist (len(ends), bins), lo, hi): bins span each window's low..high. Chunked, so
    memory is bounded by chunk x window floats.
    """
    views = [sliding_window_view(np.r_[np.full(window - 1, np.nan), x], window)
             for x in (price, volume, low, high)]  # fmt: skip
    hist = np.empty((len(ends), bins))
    lo_all, hi_all = np.empty(len(ends)), np.empty(len(ends))
    offsets = np.arange(window)
    for s in range(0, len(ends), chunk):
        e, st = ends[s : s + chunk], starts[s : s + chunk]
        pw, vw, lw, hw = (v[e] for v in views)  # row e of the padded view ends at candle e
        full = bool((st == e - window + 1).all())  # rolling windows: no anchor mask needed
        inside = np.True_ if full else (e[:, None] - window + 1 + offsets) >= st[:, None]
        lo = lw.min(axis=1) if full else np.where(inside, lw, np.inf).min(axis=1)
        hi = hw.max(axis=1) if full else np.where(inside, hw, -np.inf).max(axis=1)
        span = np.where(hi > lo, hi - lo, np.inf)
        with np.errstate(invalid="ignore"):  # NaN candles: NaN positions, weighed 0 below
            pos = (pw - lo[:, None]) / span[:, None] * bins
        bad = ~np.isfinite(pos) | ~inside  # NaN candles and rows before the anchor weigh 0
        b = np.clip(np.where(bad, 0, pos), 0, bins - 1).astype("int64")
        weights = np.where(bad | np.isnan(vw), 0.0, vw)
        flat = (np.arange(len(e))[:, None] * bins + b).ravel()
        h = np.bincount(flat, weights=weights.ravel(), minlength=len(e) * bins)
        hist[s : s + chunk] = h.reshape(len(e), bins)
        lo_all[s : s + chunk], hi_all[s : s + chunk] = lo, hi
    return hist, lo_all, hi_all
