"""Book profiles of one (exchange symbol, session block): what recorded books looked like, as
quantiles over snapshots, and the cost of walking them.

A profile holds the spread in bps of mid (p10/p50/p90 over snapshots) and, per side, the quote
notional resting at the best level (`touch`) and within d bps of mid for d on a fixed grid
(`depth`, p10/p50/p90 per grid point). A recorded book only shows its top N levels: a grid point
beyond the deepest level of a snapshot is unknown for that snapshot (censored, not zero), and a
grid point unknown in more than half of the snapshots is not in the profile (None in the file).
`reach_bps` is the median distance of the deepest recorded level and `visible` the quote notional
of all recorded levels (p10/p50/p90): the curve's last known point (exact per snapshot, where
the grid is censored).

The cost of a notional N is the notional-weighted mean distance from mid of its fills on the
piecewise-linear cumulative depth curve (d, D(d)) that starts vertically at the half spread with
the touch notional. Past the curve's last known point the curve goes on at one constant density
(the p50 curve's mean density from the half spread to its last point; the same density for the
p10 and p90 curves, so the band stays ordered): an extrapolation, flagged on the cost.
Written by hand: a dozen-point curve, no library walks a depth profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_GRID_BPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
QUANTILES = (10, 50, 90)
SIDES = ("bid", "ask")


@dataclass(frozen=True, slots=True)
class Profile:
    """Quantiles over `snapshots` recorded books of one symbol in one block. `spread_bps` (3,)
    p10/p50/p90; per side ('bid', 'ask'): `touch[side]` (3,) best-level quote notional,
    `depth[side]` (3, G) quote notional within `grid_bps` of mid (NaN = not observed), and
    `reach_bps[side]` the median distance of the deepest recorded level, `visible[side]` (3,)
    the quote notional of all recorded levels."""

    symbol: str
    block: str
    snapshots: int
    captures: int
    first_ts: str
    last_ts: str
    grid_bps: np.ndarray
    spread_bps: np.ndarray
    touch: dict[str, np.ndarray]
    depth: dict[str, np.ndarray]
    reach_bps: dict[str, float]
    visible: dict[str, np.ndarray]

    def curve(self, side: str, spread_q: int, depth_q: int) -> tuple[np.ndarray, np.ndarray]:
        """(distance bps, cumulative notional) of `side` with spread quantile index `spread_q`
        and depth quantile index `depth_q` (0/1/2 = p10/p50/p90), starting at the half spread
        with the touch notional, then the observed grid points and the (reach, visible) point
        beyond the half spread, in distance order, notional made non-decreasing."""
        hs = self.spread_bps[spread_q] / 2
        d = np.r_[self.grid_bps, self.reach_bps[side]]
        depth = np.r_[self.depth[side][depth_q], self.visible[side][depth_q]]
        keep = np.isfinite(depth) & np.isfinite(d) & (d > hs)
        order = np.argsort(d[keep], kind="stable")
        d = np.r_[hs, d[keep][order]]
        notional = np.maximum.accumulate(np.r_[self.touch[side][depth_q], depth[keep][order]])
        return d, notional

    def density(self, side: str) -> float:
        """Quote notional per bp used past the p50 curve's last point (NaN if it has none)."""
        d, notional = self.curve(side, 1, 1)
        if len(d) < 2 or not notional[-1] > 0 or not d[-1] > d[0]:
            return float("nan")
        return float(notional[-1] / (d[-1] - d[0]))


def curve_cost_bps(d: np.ndarray, depth: np.ndarray, notional: float,
                   density: float) -> tuple[float, bool]:  # fmt: skip
    """(notional-weighted mean fill distance from mid in bps, extrapolated?) of taking
    `notional` from the cumulative curve (`d` bps, `depth` quote, both non-decreasing, fills
    at `d[0]` up to `depth[0]`), continued at `density` (quote per bp) past its end; inf if
    the curve is too short and `density` is not positive."""
    extrapolated = notional > depth[-1]
    if extrapolated:
        if not density > 0:
            return float("inf"), True
        d = np.append(d, d[-1] + (notional - depth[-1]) / density)
        depth = np.append(depth, notional)
    # area under distance over notional: the touch block, then trapezoids per segment
    seg = np.diff(depth) * (d[1:] + d[:-1]) / 2
    area = depth[0] * d[0] + np.concatenate(([0.0], np.cumsum(seg)))  # area[k]: through point k
    k = int(np.searchsorted(depth, notional, side="left"))
    if k == 0:
        return float(d[0]), extrapolated
    frac = (notional - depth[k - 1]) / (depth[k] - depth[k - 1])
    d_n = d[k - 1] + frac * (d[k] - d[k - 1])
    total = area[k - 1] + (notional - depth[k - 1]) * (d[k - 1] + d_n) / 2
    return float(total / notional), extrapolated


def depth_within(d: np.ndarray, depth: np.ndarray, bps: float) -> float:
    """Cumulative notional within `bps` of mid on a curve: 0 inside the half spread, NaN
    beyond the curve's last observed point."""
    if bps < d[0]:
        return 0.0
    if bps > d[-1]:
        return float("nan")
    return float(np.interp(bps, d, depth))
