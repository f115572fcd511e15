"""Test every declared session pattern against a matched random-candle baseline.

For each pattern x pair cell (and an all-pairs margin) the instances are the first trigger of
the pattern in each block run (`perpflow.research.patterns`). Each instance is matched to
`draws` random candles of the same pair, session block, position bucket (quarter hour of the
block, or of the London open hour) and volatility decile, from complete blocks of the events' span; a
random candle's outcome is read with the instance's direction. The null of a cell's mean is the
mean over its instances of one random candle each, `draws` times; the p-value is
`stats.baseline_z` (normal, scaled by the larger of the instances' block-bootstrap SE and the
draws' spread: not floored at 1 / (draws + 1), so BH can reject among thousands of cells; the
rank p `stats.empirical_p` is kept beside it), the CI the block bootstrap of the time-ordered
instance outcomes, and q-values are Benjamini-Hochberg over every tested cell. Cells with fewer than `min_count`
instances are reported, not tested. Vectorised over events and draws; the Python loops run
over the declared patterns and chunks of draws only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpflow.features.sessions import SESSION_CODES, SESSION_NAMES
from perpflow.research.patterns import OUTCOMES, WHERES, Pattern, Where, triggers
from perpflow.research.stats import baseline_z, bh_qvalues, bootstrap_summary, empirical_p

log = logging.getLogger(__name__)

ALL_PAIRS = "ALL"
DRAW_CELLS = 1_000_000  # events x draws held at once per outcome (memory of one chunk)
CI_DRAWS = 1000  # block-bootstrap resamples of a cell's CI (the baseline's draws are separate)


@dataclass
class Joined:
    """Events joined to their candle rows: `row` (table row), `pair_id`, `dir`, `t` (int64 time)."""

    events: pd.DataFrame
    row: np.ndarray
    pair_id: np.ndarray
    dir: np.ndarray
    t: np.ndarray


def _strata_keys(table: pd.DataFrame, pair_id: np.ndarray) -> np.ndarray:
    """One int64 per candle for (pair, block, position bucket, volatility decile)."""
    return (((pair_id.astype("int64") * 8 + table["block"].to_numpy()) * 2048
             + table["bucket"].to_numpy()) * 16 + table["vol_decile"].to_numpy())  # fmt: skip


def _eligible(table: pd.DataFrame) -> np.ndarray:
    """Candles that can be instances or baseline draws: named, complete block, known decile."""
    return ((table["block"].to_numpy() != 0) & table["complete"].to_numpy()
            & (table["vol_decile"].to_numpy() >= 0))  # fmt: skip


def join_events(events: pd.DataFrame, table: pd.DataFrame, pairs: list[str]) -> Joined:
    """Events on eligible candles of the table (others dropped, counts logged)."""
    rows = table[["pair", "date"]].reset_index(names="row")
    ev = events.merge(rows, on=["pair", "date"], how="left")
    if ev["row"].isna().any():
        log.warning("%d events have no candle in the data; dropped", int(ev["row"].isna().sum()))
    ev = ev[ev["row"].notna()].reset_index(drop=True)
    row = ev["row"].to_numpy(dtype="int64")
    keep = _eligible(table)[row]
    if (~keep).any():
        log.info("%d events outside complete named blocks or in the volatility warm-up; "
                 "not instances", int((~keep).sum()))  # fmt: skip
    ev, row = ev[keep].reset_index(drop=True), row[keep]
    names = np.array([SESSION_NAMES[c] for c in table["block"].to_numpy()[row]], dtype=object)
    if len(ev) and (bad := int((names != ev["block"].to_numpy()).sum())):
        log.warning(
            "%d events name a session block other than their candle's; using the candle's", bad
        )
    if len(ev):
        agree = float(np.mean(ev["vol_decile"].to_numpy() == table["vol_decile"].to_numpy()[row]))
        log.info("events' vol_decile equals the candle table's on %.0f%% of events", 100 * agree)
    pair_id = pd.Categorical(ev["pair"], categories=pairs).codes.astype("int64")
    t = pd.DatetimeIndex(ev["date"]).asi8
    return Joined(ev, row, pair_id, ev["dir"].to_numpy(dtype="int64"), t)


def _in_where(table: pd.DataFrame, row: np.ndarray, where: Where) -> np.ndarray:
    """True per event row inside `where` (block and window)."""
    ok = table["block"].to_numpy()[row] == SESSION_CODES[where.block]
    if where.window == "all":
        return ok
    return ok & table[where.window].to_numpy()[row]


def instances(j: Joined, table: pd.DataFrame, trigger, where: Where) -> np.ndarray:
    """Event indices of the pattern's instances: the first matching event of each block run
    (earliest date; ties by event order), sorted by pair then date."""
    hit = trigger.matches(j.events["event"].to_numpy(), j.dir) & _in_where(table, j.row, where)
    idx = np.flatnonzero(hit)
    if not len(idx):
        return idx
    run = table["block_run"].to_numpy()[j.row[idx]]
    frame = pd.DataFrame({"i": idx, "p": j.pair_id[idx], "run": run,
                          "date": j.t[idx]})  # fmt: skip
    first = frame.sort_values(["p", "date", "i"], kind="stable").drop_duplicates(["p", "run"])
    return first["i"].to_numpy()


def strata(j: Joined, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline pool: eligible candle rows sorted by stratum, and per event the offset and
    size of its stratum in it (the event's own candle is eligible, so no stratum is empty)."""
    key = _strata_keys(table, pd.factorize(table["pair"])[0])
    pool = np.flatnonzero(_eligible(table))
    order = pool[np.argsort(key[pool], kind="stable")]
    ukeys, starts, sizes = np.unique(key[order], return_index=True, return_counts=True)
    at = np.searchsorted(ukeys, key[j.row])
    return order, starts[at], sizes[at]


def draw_rows(pool, rng, n: int) -> np.ndarray:
    """n random candle rows per event from its stratum (events x n), `pool` from `strata`."""
    order, start, size = pool
    pick = (rng.random((len(start), n)) * size[:, None]).astype("int64")
    return order[start[:, None] + pick]


def _segments(pair_id: np.ndarray, npairs: int) -> np.ndarray:
    """Start offsets of each pair's segment in a pair-sorted index array (len npairs + 1)."""
    return np.searchsorted(pair_id, np.arange(npairs + 1))


def plan(j: Joined, table: pd.DataFrame, event_names, min_count: int, npairs: int):
    """Per (trigger, where, outcome): pattern, instance indices with a known outcome (pair-sorted),
    their outcome values and pair segment offsets; and which cells (pair..., ALL) are tested."""
    items = []
    for trig in triggers(event_names):
        for where in WHERES:
            inst = instances(j, table, trig, where)
            for outcome in OUTCOMES:
                label = table[outcome.column].to_numpy()[j.row[inst]]
                vals = outcome.values(label, j.dir[inst])
                ok = np.isfinite(vals)
                idx, vals = inst[ok], vals[ok]
                seg = _segments(j.pair_id[idx], npairs)
                n = np.r_[np.diff(seg), len(idx)]
                items.append((Pattern(trig, where, outcome), idx, vals, seg, n >= min_count))
    return items


def _pair_means(v: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Means over the finite values of (instances x draws) `v` per pair segment, then over all:
    (npairs + 1) x draws, NaN where a draw has no finite value."""
    fin = np.isfinite(v)
    filled = np.where(fin, v, 0)
    starts = seg[:-1][np.diff(seg) > 0]  # reduceat needs the non-empty segments only
    sums = np.zeros((len(seg), v.shape[1]), dtype="float64")
    counts = np.zeros_like(sums)
    sums[:-1][np.diff(seg) > 0] = np.add.reduceat(filled, starts, axis=0, dtype="float64")
    counts[:-1][np.diff(seg) > 0] = np.add.reduceat(fin, starts, axis=0, dtype="float64")
    sums[-1], counts[-1] = sums[:-1].sum(axis=0), counts[:-1].sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def null_means(j: Joined, table: pd.DataFrame, items, draws: int,
               seed: int) -> dict[tuple[int, int], np.ndarray]:  # fmt: skip
    """{(item, cell): `draws` baseline means (float32)} for every tested cell (the last cell
    is ALL). Draws come in chunks of DRAW_CELLS / events, the same for every pattern; patterns
    with the same outcome and instances (e.g. `up` and `any` of a name that is always up) share
    one computation (each still counts as a test)."""
    rng = np.random.default_rng(seed)
    null = {(i, c): np.empty(draws, dtype="float32")
            for i, it in enumerate(items) for c in np.flatnonzero(it[4])}  # fmt: skip
    chunk = int(np.clip(DRAW_CELLS // max(len(j.row), 1), 1, draws))
    labels = {o.column: table[o.column].to_numpy(dtype="float32") for o in OUTCOMES}
    d = j.dir.astype("float32")[:, None]
    pool = strata(j, table)
    same = {}
    for i, (pattern, idx, *_) in enumerate(items):
        same.setdefault((pattern.outcome, idx.tobytes()), i)
    for lo in range(0, draws, chunk):
        hi = min(draws, lo + chunk)
        rows = draw_rows(pool, rng, hi - lo)
        values = {o: o.values(labels[o.column][rows], d) for o in OUTCOMES}
        done: dict[int, np.ndarray] = {}
        for i, (pattern, idx, _, seg, tested) in enumerate(items):
            if tested.any():
                first = same[(pattern.outcome, idx.tobytes())]
                if first not in done:
                    done[first] = _pair_means(values[pattern.outcome][idx], seg)
                for cell in np.flatnonzero(tested):
                    null[(i, cell)][lo:hi] = done[first][cell]
    return null


def _cell_values(j: Joined, idx: np.ndarray, vals: np.ndarray, seg, cell: int, npairs: int):
    """A cell's instance outcomes in time order."""
    if cell < npairs:
        return vals[seg[cell] : seg[cell + 1]]
    order = np.argsort(j.t[idx], kind="stable")
    return vals[order]


def mine(events: pd.DataFrame, table: pd.DataFrame, *, draws: int = 1000, min_count: int = 30,
         seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """One row per pattern x pair cell (pair ALL: the margin over pairs): the pattern's declared
    fields, `n`, `mean` (a rate for 0/1 outcomes), `ci_lo`, `ci_hi` (95% block bootstrap),
    `base_mean` (matched baseline), `lift`, `z` and `p` (`stats.baseline_z`: normal, scaled by
    the larger of the instances' block-bootstrap SE and the baseline draws' spread),
    `p_empirical` (rank among the draws, floored at 1 / (draws + 1)), `q` (BH over tested cells'
    `p`) and `tested`."""
    pairs = sorted(pd.unique(events["pair"]))
    npairs = len(pairs)
    j = join_events(events, table, pairs)
    items = plan(j, table, events["event"].unique(), min_count, npairs)
    null = null_means(j, table, items, draws, seed)
    rows = []
    for i, (pattern, idx, vals, seg, tested) in enumerate(items):
        fields = pattern.fields()
        for cell in range(npairs + 1):
            x = _cell_values(j, idx, vals, seg, cell, npairs)
            mean = float(x.mean()) if len(x) else np.nan
            lo, hi, se = (bootstrap_summary(x, draws=CI_DRAWS, seed=seed) if len(x) > 1
                          else (np.nan, np.nan, np.nan))  # fmt: skip
            base = null.get((i, cell))
            bmean = float(np.nanmean(base)) if base is not None else np.nan
            z, p = baseline_z(mean, se, base) if base is not None else (np.nan, np.nan)
            p_emp = empirical_p(mean, base.astype("float64")) if base is not None else np.nan
            rows.append({**fields, "pair": pairs[cell] if cell < npairs else ALL_PAIRS,
                         "n": len(x), "mean": mean, "ci_lo": lo, "ci_hi": hi, "base_mean": bmean,
                         "lift": mean - bmean, "z": z, "p": p, "p_empirical": p_emp,
                         "tested": bool(tested[cell])})  # fmt: skip
    out = pd.DataFrame(rows)
    out["q"] = bh_qvalues(out["p"].to_numpy()) if len(out) else []
    return out
