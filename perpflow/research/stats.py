"""Statistics shared by the event study and pattern mining: block-bootstrap confidence intervals,
empirical p-values against a matched baseline, and Benjamini-Hochberg q-values.

Written by hand (a few vectorised NumPy lines each) because the libraries that have them
(`arch`'s bootstrap, `statsmodels`' multipletests) are not dependencies here and their
per-draw Python loops are slower than the block-sum form below for thousands of cells.
"""

from __future__ import annotations

import math

import numpy as np


def block_length(n: int) -> int:
    """A default block length for `n` time-ordered observations: round(n ** (1/3)), at least 1
    (the usual rate for the moving-block bootstrap of a mean)."""
    return max(1, int(round(n ** (1 / 3))))


def block_bootstrap_means(x: np.ndarray, *, draws: int = 1000, block: int | None = None,
                          seed: int = 0) -> np.ndarray:  # fmt: skip
    """Means of `draws` circular moving-block bootstrap resamples of `x` (time-ordered).

    Each resample joins ceil(n / block) blocks of `block` consecutive values (wrapping at the
    end) and is cut to n. Vectorised through block sums: memory is draws x n / block.
    Returns an array of `draws` means (empty input: all NaN)."""
    x = np.asarray(x, dtype="float64")
    n = len(x)
    if n == 0:
        return np.full(draws, np.nan)
    b = min(block or block_length(n), n)
    k = math.ceil(n / b)
    ext = np.concatenate([x, x[: b - 1]])
    csum = np.concatenate([[0.0], np.cumsum(ext)])
    block_sums = csum[b : b + n] - csum[:n]  # sum of the block starting at each i (circular)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(draws, k))
    total = block_sums[starts[:, :-1]].sum(axis=1) if k > 1 else np.zeros(draws)
    # the last block is cut so that every resample has exactly n values
    tail = n - (k - 1) * b
    last = starts[:, -1]
    total = total + (csum[last + tail] - csum[last])
    return total / n


def bootstrap_ci(x: np.ndarray, *, draws: int = 1000, alpha: float = 0.05,
                 block: int | None = None, seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """Percentile confidence interval (1 - alpha) of the mean of time-ordered `x` by the
    circular block bootstrap; (nan, nan) when x is empty (`bootstrap_summary` without the SE)."""
    lo, hi, _ = bootstrap_summary(x, draws=draws, alpha=alpha, block=block, seed=seed)
    return lo, hi


def empirical_p(observed: float, null: np.ndarray) -> float:
    """Two-sided p-value of `observed` against draws of the same statistic under the null
    (e.g. means of matched random candles): (1 + #{|null - centre| >= |obs - centre|}) /
    (draws + 1), centred on the null's mean. NaN when there is no usable draw."""
    null = np.asarray(null, dtype="float64")
    null = null[np.isfinite(null)]
    if not len(null) or not np.isfinite(observed):
        return float("nan")
    centre = null.mean()
    extreme = np.count_nonzero(np.abs(null - centre) >= abs(observed - centre) - 1e-15)
    return float((1 + extreme) / (len(null) + 1))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (step-up, monotone, capped at 1) of every p-value in `p`;
    NaN p-values stay NaN and do not count as tests. Reject at FDR q when q-value <= q."""
    p = np.asarray(p, dtype="float64")
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if not m:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def bootstrap_summary(x: np.ndarray, *, draws: int = 1000, alpha: float = 0.05,
                      block: int | None = None, seed: int = 0) -> tuple[float, float, float]:  # fmt: skip
    """(ci_lo, ci_hi, se) of the mean of time-ordered `x` from one block bootstrap: the
    percentile interval and the standard deviation of the resampled means (NaN when empty)."""
    means = block_bootstrap_means(x, draws=draws, block=block, seed=seed)
    if np.isnan(means).all():
        return float("nan"), float("nan"), float("nan")
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), float(means.std(ddof=1))


def baseline_z(mean: float, se_events: float, null: np.ndarray) -> tuple[float, float]:
    """(z, two-sided p) of an event mean against the matched baseline's draw means.

    The scale is the larger of the event mean's block-bootstrap standard error (which carries the
    events' own clustering in time) and the spread of the baseline draws (random candles,
    independent): a normal approximation (the mean of >= 30 outcomes), so p is not floored at
    1 / (draws + 1) as the empirical p is, and with thousands of cells BH can still reject."""
    from scipy.stats import norm

    null = np.asarray(null, dtype="float64")
    null = null[np.isfinite(null)]
    if len(null) < 2 or not np.isfinite(mean):
        return float("nan"), float("nan")
    scale = max(se_events if np.isfinite(se_events) else 0.0, null.std(ddof=1))
    if scale <= 0:
        return float("nan"), float("nan")
    z = (mean - null.mean()) / scale
    return float(z), float(2 * norm.sf(abs(z)))
