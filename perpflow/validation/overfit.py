"""Overfitting statistics: how much of a chosen variant's Sharpe ratio survives the search.

- `probabilistic_sharpe`: PSR, P(true Sharpe > benchmark) given skew and kurtosis (Bailey &
  López de Prado 2012, "The Sharpe Ratio Efficient Frontier").
- `deflated_sharpe`: DSR, the PSR against the Sharpe the best of `n_trials` unskilled trials is
  expected to reach (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio").
- `min_track_record_length`: MinTRL, observations needed before the Sharpe is significant.
- `pbo_cscv`: probability of backtest overfitting by combinatorially symmetric cross-validation
  (Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of Backtest Overfitting").

Units: every Sharpe ratio here is PER PERIOD (per observation, e.g. per day), not annualised:
mean / standard deviation of the same returns the observations count. Kurtosis is the plain
(not excess) fourth standardised moment: 3 for a normal distribution.

Written by hand (a few vectorised NumPy/SciPy lines each): no maintained library on PyPI here
has these estimators with the papers' definitions (`pypbo` is unmaintained and loops per split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)  # 0.5772156649...


def sharpe(returns) -> float:
    """Per-period Sharpe (mean / sample std, ddof=1) of one return series; NaN when the std is 0
    or there are fewer than 2 observations."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    return float(r.mean() / sd) if sd > 0 else float("nan")


def moments(returns) -> tuple[float, float, float, int]:
    """(per-period Sharpe, skewness, kurtosis (normal = 3), n_obs) of a return series."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if len(r) < 3 or r.std() == 0:
        return float("nan"), 0.0, 3.0, len(r)
    return sharpe(r), float(stats.skew(r)), float(stats.kurtosis(r, fisher=False)), len(r)


def _sr_std(sr: float, skew: float, kurt: float) -> float:
    """sqrt(1 - skew*SR + (kurt-1)/4 * SR^2): the non-normal standard error factor of SR."""
    v = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    return math.sqrt(max(v, 1e-12))


def probabilistic_sharpe(sr: float, n_obs: int, skew: float = 0.0, kurt: float = 3.0,
                         sr_benchmark: float = 0.0) -> float:  # fmt: skip
    """PSR: Phi((SR - SR*) sqrt(n_obs - 1) / sqrt(1 - skew SR + (kurt-1)/4 SR^2)).

    `sr` and `sr_benchmark` per period, `n_obs` the number of returns behind `sr`. Returns a
    probability in [0, 1] (0.5 when sr == sr_benchmark); NaN when sr is NaN or n_obs < 2."""
    if not np.isfinite(sr) or n_obs < 2:
        return float("nan")
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / _sr_std(sr, skew, kurt)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe of `n_trials` independent unskilled trials
    whose Sharpes have variance `sr_variance` (per period, squared):
    sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g = Euler-Mascheroni.
    0 for a single trial (nothing was chosen) or a zero/NaN variance."""
    if n_trials < 2 or not np.isfinite(sr_variance) or sr_variance <= 0:
        return 0.0
    q = stats.norm.ppf
    z = (1 - EULER_GAMMA) * q(1 - 1 / n_trials) + EULER_GAMMA * q(1 - 1 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * z)


@dataclass(frozen=True)
class DeflatedSharpe:
    """DSR of a chosen variant. `sr`, `sr0` per period; `dsr` = PSR(sr0) in [0, 1]."""

    dsr: float
    sr: float
    sr0: float
    n_trials: int
    sr_variance: float
    n_obs: int
    skew: float
    kurt: float

    @property
    def significant(self) -> bool:
        """DSR >= 0.95: the Sharpe beats the best of n_trials unskilled trials at 5%."""
        return bool(np.isfinite(self.dsr) and self.dsr >= 0.95)


def deflated_sharpe(returns, *, sr_trials=None, sr_variance: float | None = None,
                    n_trials: int | None = None) -> DeflatedSharpe:  # fmt: skip
    """DSR of the chosen variant's per-period `returns` (e.g. daily account returns).

    The null's spread comes from `sr_trials` (each trial's per-period Sharpe; their sample
    variance, NaNs dropped) or `sr_variance` directly; `n_trials` defaults to len(sr_trials)
    and may be larger (trials whose Sharpe is unknown, e.g. earlier runs from a ledger)."""
    sr, skew, kurt, n_obs = moments(returns)
    if sr_variance is None:
        trials = np.asarray([] if sr_trials is None else sr_trials, dtype="float64")
        trials = trials[np.isfinite(trials)]
        sr_variance = float(trials.var(ddof=1)) if len(trials) > 1 else 0.0
        n_trials = n_trials if n_trials is not None else len(trials)
    n_trials = int(n_trials or 1)
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    dsr = probabilistic_sharpe(sr, n_obs, skew, kurt, sr_benchmark=sr0)
    return DeflatedSharpe(dsr, sr, sr0, n_trials, float(sr_variance), n_obs, skew, kurt)


def min_track_record_length(sr: float, skew: float = 0.0, kurt: float = 3.0,
                            sr_benchmark: float = 0.0, alpha: float = 0.05) -> float:  # fmt: skip
    """MinTRL in observations: 1 + (1 - skew SR + (kurt-1)/4 SR^2) (Z_(1-alpha) / (SR - SR*))^2,
    the length of record at which PSR(SR*) reaches 1 - alpha. `sr` per period; inf when
    sr <= sr_benchmark (no record length makes it significant), NaN for a NaN sr."""
    if not np.isfinite(sr):
        return float("nan")
    if sr <= sr_benchmark:
        return float("inf")
    z = stats.norm.ppf(1 - alpha)
    return float(1 + _sr_std(sr, skew, kurt) ** 2 * (z / (sr - sr_benchmark)) ** 2)


@dataclass(frozen=True)
class PBO:
    """CSCV result: `pbo` = share of splits whose in-sample best is at or below the
    out-of-sample median (logit <= 0); `logits` one per split; `slope`/`intercept` of the OOS
    Sharpe of the IS-best regressed on its IS Sharpe (performance degradation, per period)."""

    pbo: float
    logits: np.ndarray
    slope: float
    intercept: float
    n_splits: int
    n_variants: int
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray

    @property
    def prob_oos_loss(self) -> float:
        """Share of splits whose IS-best variant has a negative OOS Sharpe."""
        return float(np.mean(self.oos_sharpe < 0)) if len(self.oos_sharpe) else float("nan")


def _block_sharpe(mask: np.ndarray, s: np.ndarray, q: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of every variant over the blocks selected by `mask` (C x S), from per
    block sums `s`, sums of squares `q` (S x N) and counts `n` (S): C x N; 0 where std is 0."""
    cnt = (mask @ n)[:, None]
    mean = (mask @ s) / cnt
    var = ((mask @ q) - cnt * mean**2) / np.maximum(cnt - 1, 1)
    sd = np.sqrt(np.clip(var, 0, None))
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 1e-15)


def pbo_cscv(perf, n_splits: int = 16) -> PBO:
    """PBO of choosing the best of N variants by in-sample Sharpe, from `perf` (T observations x
    N variants of per-period returns, e.g. daily; a DataFrame or array).

    The T rows are cut into `n_splits` (even) contiguous blocks; every one of the
    C(S, S/2) choices of half the blocks is an in-sample set, its complement the out-of-sample
    set. Per split: the IS-best variant's OOS relative rank w in (0, 1), logit log(w / (1-w)).
    Vectorised over all splits through per-block sums (memory C x N)."""
    m = np.asarray(perf, dtype="float64")
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("pbo_cscv needs a T x N matrix with at least 2 variants (columns)")
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number >= 2, got {n_splits}")
    if m.shape[0] < 2 * n_splits:
        raise ValueError(f"{m.shape[0]} observations are too few for {n_splits} splits "
                         f"(need >= {2 * n_splits})")  # fmt: skip
    m = np.nan_to_num(m, nan=0.0)
    blocks = np.array_split(np.arange(m.shape[0]), n_splits)
    s = np.stack([m[b].sum(axis=0) for b in blocks])
    q = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    n = np.array([len(b) for b in blocks], dtype="float64")
    idx = np.array(list(combinations(range(n_splits), n_splits // 2)))
    mask = np.zeros((len(idx), n_splits))
    np.put_along_axis(mask, idx, 1.0, axis=1)
    is_sr = _block_sharpe(mask, s, q, n)
    oos_sr = _block_sharpe(1.0 - mask, s, q, n)
    best = is_sr.argmax(axis=1)
    rows = np.arange(len(idx))
    rank = stats.rankdata(oos_sr, axis=1)[rows, best]  # 1..N, ties averaged
    w = rank / (m.shape[1] + 1)
    logits = np.log(w / (1 - w))
    x, y = is_sr[rows, best], oos_sr[rows, best]
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (float("nan"), float(y.mean()))
    return PBO(float(np.mean(logits <= 0)), logits, float(slope), float(intercept), n_splits,
               m.shape[1], x, y)  # fmt: skip


def explain(dsr: DeflatedSharpe | None, pbo: PBO | None, mintrl: float | None = None,
            n_obs: int | None = None) -> list[str]:  # fmt: skip
    """Plain sentences for a report: what the DSR, PBO and MinTRL figures mean."""
    out = []
    if dsr is not None and np.isfinite(dsr.dsr):
        verdict = "significant" if dsr.significant else "NOT significant"
        out.append(f"DSR {dsr.dsr:.2f} after {dsr.n_trials} trial(s): the chosen Sharpe "
                   f"({dsr.sr:.3f}/day) against the {dsr.sr0:.3f}/day the best of "
                   f"{dsr.n_trials} unskilled trials would reach is {verdict} at 95%.")  # fmt: skip
    if pbo is not None:
        side = ("more likely than not below" if pbo.pbo > 0.5 else
                "as likely as not below" if pbo.pbo == 0.5 else "less likely than not below")  # fmt: skip
        out.append(f"PBO {pbo.pbo:.2f}: the in-sample best variant is {side} the median out of "
                   f"sample ({pbo.n_splits} blocks, {len(pbo.logits)} splits, "
                   f"{pbo.n_variants} variants; degradation slope {pbo.slope:.2f}).")  # fmt: skip
    if mintrl is not None:
        have = f" (the record has {n_obs})" if n_obs is not None else ""
        out.append(f"MinTRL {mintrl:.0f} days{have}: the track record needed for this Sharpe "
                   "to be significant at 95% against zero." if np.isfinite(mintrl) else
                   "MinTRL infinite: a Sharpe <= 0 is never significant.")  # fmt: skip
    return out
