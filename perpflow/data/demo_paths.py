"""Building blocks of the SYNTHETIC demo market: session volatility, returns, planted events.

Written by hand: no library generates perpetual-futures markets with planted liquidity events.
All arrays are per 1-minute bar; log-price paths are in natural-log units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_PER_DAY = 1440


def session_multiplier(minutes: pd.DatetimeIndex) -> np.ndarray:
    """Volatility/volume multiplier by New York local time (DST aware) and weekday.

    Peaks at the New York open (9:30-11:30 local) and London open (3:00-5:00 local), stays
    elevated through the New York afternoon and is quiet in the late Asian session; weekends 0.6.
    """
    local = minutes.tz_convert("America/New_York")
    h = local.hour.to_numpy() + local.minute.to_numpy() / 60.0
    m = 0.55 + 0.25 * np.exp(-(((h - 20.5) % 24) ** 2) / 8.0)  # Asia open (evening NY)
    m = m + 0.55 * np.exp(-((h - 4.0) ** 2) / 2.0)  # London open
    m = m + 1.10 * np.exp(-((h - 10.25) ** 2) / 1.5)  # New York open
    m = m + 0.35 * np.exp(-((h - 14.0) ** 2) / 4.0)  # New York afternoon
    weekend = minutes.day_of_week.to_numpy() >= 5
    return np.where(weekend, 0.6 * m, m)


def unit_t(rng: np.random.Generator, n: int, df: float = 4.0) -> np.ndarray:
    """Student-t innovations scaled to unit variance (fat tails)."""
    return rng.standard_t(df, n) / np.sqrt(df / (df - 2.0))


def daily_regimes(rng: np.random.Generator, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute volatility level (AR(1) log-vol by day) and drift (trend blocks of 3-10 days)."""
    lv = np.zeros(days)
    for d in range(1, days):  # a loop over days, not minutes
        lv[d] = 0.85 * lv[d - 1] + 0.28 * rng.normal()
    vol = np.repeat(np.exp(lv - lv.mean()), MIN_PER_DAY)
    drift = np.zeros(days)
    d = 0
    while d < days:
        span = int(rng.integers(3, 11))
        drift[d : d + span] = rng.normal(0.0, 0.012) / MIN_PER_DAY  # +-1.2%/day typical trend
        d += span
    return vol, np.repeat(drift, MIN_PER_DAY)


def bridge(rng: np.random.Generator, start: float, end: float, n: int, sigma: float) -> np.ndarray:
    """A Brownian bridge of n+1 points from `start` to `end` (inclusive) with step noise sigma."""
    walk = np.r_[0.0, np.cumsum(rng.normal(0.0, sigma, n))]
    line = np.linspace(0.0, 1.0, n + 1)
    return start + (end - start) * line + walk - walk[-1] * line


@dataclass
class Cascade:
    start: int  # first minute
    length: int  # minutes
    move: float  # total log move (negative = down)
    oi_drop: float  # fraction of OI removed


def plan_cascades(rng: np.random.Generator, n: int, per_month: float = 3.0) -> list[Cascade]:
    """Market-wide liquidation cascades: 15-30 minutes, 2.5-6% moves, OI -3..-8%.

    Long squeezes (down) are a little more common than short squeezes (up), as in real markets.
    """
    count = max(1, int(round(n / (30 * MIN_PER_DAY) * per_month)))
    starts = np.sort(rng.choice(np.arange(MIN_PER_DAY, n - MIN_PER_DAY, 5), count, replace=False))
    out = []
    for s in starts:
        sign = -1.0 if rng.random() < 0.6 else 1.0
        out.append(Cascade(int(s), int(rng.integers(3, 7)) * 5, sign * rng.uniform(0.025, 0.06),
                           rng.uniform(0.03, 0.08)))  # fmt: skip
    return out


@dataclass
class Sweep:
    """A planted pool of equal highs/lows and its sweep, in minutes from the segment start."""

    high: bool
    start: int  # absolute minute of the segment start
    touches: list[int]  # absolute minutes of the pool touches
    sweep: int  # absolute minute of the sweep wick
    end: int  # absolute minute where the outcome is resolved
    reversal: bool
    offset: float  # log distance of the level above (below) the segment start price
    wick: float  # log wick beyond the level
    path: np.ndarray  # relative log path over [start, end] (path[0] = 0)


def design_sweep(rng: np.random.Generator, start: int, sigma: float, high: bool) -> Sweep:
    """Pool of 2-4 equal extremes over ~1-2 days, a sweep wick, then continuation or reversal.

    `sigma` is the pair's typical 1m log-return stdev; moves scale with it. The sweep minute sits
    in the 3rd minute of a 5-minute bucket and the path stays inside the level until that
    bucket closes, so the 5m candle wicks through the level and closes back inside.
    """
    k = int(rng.integers(2, 5))
    gap = int(rng.integers(4, 9)) * 60  # minutes between touches
    depth = sigma * rng.uniform(12, 22)  # pullback between touches (~1% for BTC)
    lead = int(rng.integers(3, 7)) * 60
    t_touch = [lead + i * gap for i in range(k)]
    t_sweep = t_touch[-1] + gap
    t_sweep += (2 - t_sweep % 5) % 5  # 3rd minute of its 5m bucket
    reversal = bool(rng.random() < 0.5)
    run = sigma * rng.uniform(35, 60)  # follow-through (~2-3% for BTC)
    t_end = t_sweep + int(rng.integers(3, 7)) * 60
    wick = sigma * rng.uniform(2.5, 6.0)
    level = depth * rng.uniform(0.8, 1.2)  # segment starts this far inside the level
    pts = [(0, 0.0)]
    for t in t_touch:
        pts.append((t - gap // 2 if t > lead else t // 2, level - depth))
        pts.append((t, level - rng.uniform(0.0, 0.0004)))
    pts.append((t_sweep - gap // 2, level - depth))
    pts.append((t_sweep - 1, level - 0.4 * sigma))
    pts.append((t_sweep, level - 0.6 * sigma))
    pts.append((t_sweep + 2, level - 1.5 * sigma))  # bucket closes back inside
    final = level - run if reversal else level + run
    pts.append((t_end, final))
    path = np.concatenate(
        [
            bridge(rng, a[1], b[1], b[0] - a[0], 0.35 * sigma)[:-1]
            for a, b in zip(pts[:-1], pts[1:], strict=True)
        ]
        + [np.array([final])]
    )
    inside = level - 0.0002
    pre = np.arange(len(path)) < t_sweep + 3
    capped = np.minimum(path, inside)
    path = np.where(pre, capped, path)
    for t in t_touch:
        path[t] = level - rng.uniform(0.0, 0.0004)
    sign = 1.0 if high else -1.0
    return Sweep(high, start, [start + t for t in t_touch], start + t_sweep, start + t_end,
                 reversal, sign * level, wick, sign * path)  # fmt: skip
