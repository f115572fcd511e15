"""Cells of the event study and their statistics.

Cell grammar (every cell with at least one event is reported; each cell x horizon is one test
when the cell has at least `min_events` events, and BH q-values run over all of those tests):

    cell    = event x pair x block x regime
    pair    = one studied pair | "all"
    block   = a session block of `perpflow.features.sessions` ("other" included) | "all"
    regime  = "low" (vol deciles 0-2) | "mid" (3-6) | "high" (7-9) | "all"
    horizon = 15m | 1h | 4h | 1d (`perpflow.labels.forward.HORIZONS`)

The tested statistic is the mean signed gross return in bps (continuation positive); fees are a
constant shift and cancel against the baseline, whose draws are computed the same way. Every
event belongs to one finest cell (no "all"); coarser cells sum their finest cells' null sums.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from tqdm import tqdm

from perpflow.research.baseline import group_sum, null_band, null_group_sums, stratum_pool
from perpflow.research.stats import (
    baseline_z,
    bh_qvalues,
    block_bootstrap_means,
    block_length,
    empirical_p,
)

KEYS = ("event", "pair", "block", "regime")
MARGINS = ("pair", "block", "regime")
REGIMES = {"low": (0, 1, 2), "mid": (3, 4, 5, 6), "high": (7, 8, 9)}
FAN_DRAWS = 200  # bootstrap draws of the fan charts' bands (pictures, not tests)
CELL_COLUMNS = ("event", "pair", "block", "regime", "horizon", "n", "tested", "mean_bps",
                "mean_net_bps", "rev_net_bps", "mean_atr", "ci_lo_bps", "ci_hi_bps",
                "cont_rate", "mfe_atr", "mae_atr", "base_bps", "base_lo_bps", "base_hi_bps",
                "deff", "z", "p", "p_empirical", "q")  # fmt: skip


def regime_of(decile: np.ndarray) -> np.ndarray:
    """Tercile name (`REGIMES`) of each volatility decile."""
    d = np.asarray(decile, dtype="int64")
    return np.select([d <= 2, d <= 6], ["low", "mid"], default="high").astype(object)


def _variants():
    """Every choice of margins set to "all" (2^3 = 8, the finest first)."""
    for k in range(len(MARGINS) + 1):
        yield from itertools.combinations(MARGINS, k)


def _observed(
    ev: pd.DataFrame, target: np.ndarray, n_cells: int, horizons
) -> dict[str, np.ndarray]:
    """Per cell (target id) x horizon: the means of the signed outcomes, and `n` per cell."""
    out = {"n": np.bincount(target, minlength=n_cells)}
    for name in ("ret_bps", "net_bps", "ret_atr", "cont", "mfe_atr", "mae_atr"):
        vals = ev[[f"{name}_{h}" for h in horizons]]
        out[name] = vals.groupby(target).mean().reindex(range(n_cells)).to_numpy()
    return out


def horizon_block(n: int, k: int, span: float) -> int:
    """Bootstrap block length (events) for `n` time-ordered events spread over `span` candles
    with a forward horizon of `k` candles: at least the events one horizon window holds on
    average (their outcomes overlap, so they are not independent) and `block_length(n)`, at
    most n // 3 (three blocks, else every resample is the same mean)."""
    per_window = math.ceil(n * k / max(span, 1.0))
    return int(max(1, min(max(block_length(n), per_window), n // 3)))


def _tests(x: np.ndarray, ticks: np.ndarray, k: int, base: np.ndarray, *, draws: int,
           seed: int) -> tuple[float, ...]:  # fmt: skip
    """Block-bootstrap CI of the mean of `x`, the design effect, and z, two-sided p and rank p
    of the mean against the matched baseline's draws of the cell mean (`base`).

    The draws are independent random candles, so their spread is that of a mean of n
    independent outcomes; events whose horizons overlap or that cluster in time are not
    independent. The draws' deviations are therefore widened by sqrt(design effect): the block
    bootstrap variance of the events' mean over its iid variance, at least 1. p is the normal
    approximation over the widened draws (`stats.baseline_z`): a rank among 1,000 draws is
    floored at 1/1001, and BH over thousands of cells could then never reject (the rank p is
    kept as `p_empirical`)."""
    span = (ticks[-1] - ticks[0]) + k
    boot = block_bootstrap_means(x, draws=draws, block=horizon_block(len(x), k, span), seed=seed)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    iid = x.var(ddof=1) / len(x) if len(x) > 1 else 0.0
    deff = max(1.0, float(boot.var() / iid)) if iid > 0 else 1.0
    centre = float(np.nanmean(base))
    null = centre + np.sqrt(deff) * (base - centre)
    z, p = baseline_z(float(x.mean()), float("nan"), null)
    return float(lo), float(hi), deff, z, p, empirical_p(float(x.mean()), null)


def _cell_rows(keys: pd.DataFrame, obs: dict, null: np.ndarray, ev: pd.DataFrame,
               splits: list[np.ndarray], *, horizons, ks: dict, min_events: int,
               fee_bps: float, seed: int) -> pd.DataFrame:  # fmt: skip
    """Long-format rows (cell x horizon) of one variant's cells."""
    n_c, n_h = len(keys), len(horizons)
    ci = np.full((n_c, n_h, 2), np.nan)
    p, z, p_emp, deff = (np.full((n_c, n_h), np.nan) for _ in range(4))
    tested = obs["n"] >= min_events
    ticks = ev["tick"].to_numpy()
    for c in np.flatnonzero(tested):  # one bootstrap per tested cell x horizon
        rows = splits[c]
        for j, h in enumerate(horizons):
            x = ev[f"ret_bps_{h}"].to_numpy()[rows]
            res = _tests(x, ticks[rows], ks[h], null[c, :, j], draws=null.shape[1], seed=seed)
            ci[c, j, 0], ci[c, j, 1], deff[c, j], z[c, j], p[c, j], p_emp[c, j] = res
    base_q = np.nanquantile(null, [0.025, 0.975], axis=1)  # (2, cells, horizons)
    rep = {c: np.repeat(keys[c].to_numpy(), n_h) for c in KEYS}
    return pd.DataFrame({
        **rep, "horizon": np.tile(list(horizons), n_c), "n": np.repeat(obs["n"], n_h),
        "tested": np.repeat(tested, n_h), "mean_bps": obs["ret_bps"].ravel(),
        "mean_net_bps": obs["net_bps"].ravel(), "rev_net_bps": -obs["ret_bps"].ravel() - fee_bps,
        "mean_atr": obs["ret_atr"].ravel(), "ci_lo_bps": ci[..., 0].ravel(),
        "ci_hi_bps": ci[..., 1].ravel(), "cont_rate": obs["cont"].ravel(),
        "mfe_atr": obs["mfe_atr"].ravel(), "mae_atr": obs["mae_atr"].ravel(),
        "base_bps": np.nanmean(null, axis=1).ravel(), "base_lo_bps": base_q[0].ravel(),
        "base_hi_bps": base_q[1].ravel(), "deff": deff.ravel(), "z": z.ravel(), "p": p.ravel(),
        "p_empirical": p_emp.ravel(),
    })  # fmt: skip


def cell_stats(inputs, *, pairs: list[str], draws: int = 1000, min_events: int = 30,
               fee: float = 0.0005, seed: int = 0, progress: bool = True) -> pd.DataFrame:  # fmt: skip
    """The cells table (`CELL_COLUMNS`, one row per cell x horizon) of a `StudyInputs`."""
    ev = inputs.events.assign(regime=regime_of(inputs.events["vol_decile"].to_numpy()),
                              tick=pd.DatetimeIndex(inputs.events["date"]).as_unit("ns").asi8 // inputs.tf_ns)  # fmt: skip
    horizons, ks = inputs.horizons, inputs.horizon_candles
    finest = ev.groupby(list(KEYS), sort=True).ngroup().to_numpy()
    fkeys = ev.groupby(list(KEYS), sort=True).size().reset_index(name="n")
    perm = np.argsort(finest, kind="stable")
    pool = stratum_pool(inputs.stratum, inputs.usable, inputs.n_strata)
    null_f = null_group_sums(
        inputs.base, pool, ev["stratum"].to_numpy()[perm], ev["dir"].to_numpy()[perm],
        finest[perm], len(fkeys), draws=draws, seed=seed,
    )  # fmt: skip
    parts = []
    for margin in tqdm(list(_variants()), desc="cells", unit="margin", disable=not progress):
        k = fkeys.assign(**{m: "all" for m in margin})
        tgt_f = k.groupby(list(KEYS), sort=True).ngroup().to_numpy()
        keys = k.groupby(list(KEYS), sort=True).size().reset_index()[list(KEYS)]
        null = group_sum(tgt_f, null_f)
        null /= np.bincount(tgt_f, weights=fkeys["n"].to_numpy())[:, None, None]
        target = tgt_f[finest]
        obs = _observed(ev, target, len(keys), horizons)
        ev_order = np.argsort(target, kind="stable")  # date order kept within each cell
        splits = np.split(ev_order, np.cumsum(obs["n"])[:-1])
        parts.append(_cell_rows(keys, obs, null, ev, splits, horizons=horizons, ks=ks,
                                min_events=min_events, fee_bps=2e4 * fee, seed=seed))  # fmt: skip
    cells = pd.concat(parts, ignore_index=True)
    cells["q"] = bh_qvalues(cells["p"].to_numpy())
    cells["n"] = cells["n"].astype("int64")
    cells["tested"] = cells["tested"].astype(bool)
    return cells[list(CELL_COLUMNS)]


def fan_data(inputs, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Per event (all pairs, blocks, regimes): hours after the event, the mean signed path in
    bps with its block-bootstrap 95% band (`FAN_DRAWS` draws, blocks as the tests'), and the
    matched baseline's centre and 95% band, widened by the same design effect as the tests."""
    ev = inputs.events
    ticks = pd.DatetimeIndex(ev["date"]).as_unit("ns").asi8 // inputs.tf_ns
    out = {}
    for name, idx in ev.groupby("event", sort=True).indices.items():
        p = inputs.paths[idx]
        n, span = len(idx), float(ticks[idx[-1]] - ticks[idx[0]])
        band, widen = np.full((p.shape[1], 2), np.nan), np.ones(p.shape[1])
        for j, k in enumerate(inputs.offsets):  # one bootstrap per path point (~25)
            x = p[:, j][np.isfinite(p[:, j])]
            if len(x) < 2 or k == 0:
                continue
            boot = block_bootstrap_means(x, draws=FAN_DRAWS, block=horizon_block(len(x), k, span + k),
                                         seed=seed)  # fmt: skip
            band[j] = np.quantile(boot, [0.025, 0.975])
            iid = x.var(ddof=1) / len(x)
            widen[j] = np.sqrt(max(1.0, boot.var() / iid)) if iid > 0 else 1.0
        centre, lo, hi = null_band(inputs.path_mean, inputs.path_var,
                                   ev["stratum"].to_numpy()[idx], ev["dir"].to_numpy()[idx])  # fmt: skip
        out[name] = pd.DataFrame({"hours": inputs.offset_hours, "mean": np.nanmean(p, axis=0),
                                  "lo": band[:, 0], "hi": band[:, 1], "base": centre,
                                  "base_lo": centre - (centre - lo) * widen,
                                  "base_hi": centre + (hi - centre) * widen, "n": n})  # fmt: skip
    return out
