"""Expected cost of one order in bps of the mid at decision, from the best source available:

1. `book`: the order book given now (live: the bot's `dp.orderbook`), walked level by level;
2. `profile`: the (symbol, NY session block) profile calibrated from recorded books
   (`perpflow.execution.calibrate`), walked on its depth curve (`perpflow.execution.profile`);
3. `candles`: the square-root candle proxy of `perpflow.risk.liquidity` (half the mean candle
   range times sqrt(order / mean candle quote volume)), one number, reported as impact;
4. `none`: NaN cost when nothing is usable (callers fail closed).

`drift_bps` is 0: over a latency of seconds the mid is treated as a random walk; its spread
enters the band as +-1.645 sigma sqrt(latency) when `sigma_bps_1s` is given (no drift term in
the band when it is NaN). Band: book = the walk +- the drift band; profile = (p10 spread, p90
depth) to (p90 spread, p10 depth) +- the drift band; candles = x0.5 to x2 of the proxy +- the
drift band (the square-root rule's usual factor-of-two uncertainty: a convention, not a
measurement).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perpflow.data.readers import exchange_symbol
from perpflow.execution.modelfile import (
    FORMAT,
    profile_from_file,
    profile_to_dict,
    read_model_file,
)
from perpflow.execution.profile import DEFAULT_GRID_BPS, Profile, curve_cost_bps, depth_within
from perpflow.features.sessions import SESSION_NAMES
from perpflow.risk.liquidity import sqrt_impact_bps

logger = logging.getLogger(__name__)
Z90 = 1.645  # two-sided 90% normal quantile
DEFAULT_MIN_SNAPSHOTS = 30
BLOCKS = tuple(SESSION_NAMES.values())
TAKES = {"buy": "ask", "sell": "bid"}  # the side of the book an order of that side walks


@dataclass(frozen=True, slots=True)
class Cost:
    """Expected cost of one order, bps of the mid at decision (positive = paid)."""

    half_spread_bps: float
    impact_bps: float
    drift_bps: float  # expected adverse drift over the latency (0 for a random walk)
    band_bps: tuple[float, float]  # (low, high) plausible total cost
    source: str  # "book", "profile", "candles" or "none"
    extrapolated: bool = False  # the order reaches past the recorded depth (see profile.py)

    @property
    def total_bps(self) -> float:
        return self.half_spread_bps + self.impact_bps + self.drift_bps


NO_COST = Cost(float("nan"), float("nan"), 0.0, (float("nan"), float("nan")), "none")


def walk_cost_bps(prices, sizes, notional: float, mid: float) -> float:
    """Cost in bps of `mid` (beyond mid: the half spread included) of taking `notional` quote
    from one side's levels (`prices` best first, `sizes` in base units; NaN or empty levels
    skipped); inf if the levels hold less. Asks cost (avg - mid), bids (mid - avg)."""
    p = np.asarray(prices, dtype="float64")
    q = np.asarray(sizes, dtype="float64")
    ok = np.isfinite(p) & np.isfinite(q) & (q > 0) & (p > 0)
    p, q = p[ok], q[ok]
    quote = np.cumsum(p * q)
    k = int(np.searchsorted(quote, notional, side="left"))
    if k >= len(p):
        return float("inf")
    base = q[:k].sum() + (notional - (quote[k - 1] if k else 0.0)) / p[k]
    ascending = p[-1] > p[0] if len(p) > 1 else p[0] >= mid
    return float((notional / base / mid - 1) * 1e4 * (1 if ascending else -1))


def drift_band_bps(sigma_bps_1s: float, latency_s: float) -> float:
    """Half-width of the 90% band of the mid's move over `latency_s`: 1.645 sigma sqrt(t)."""
    return Z90 * sigma_bps_1s * math.sqrt(max(latency_s, 0.0))


def _symbol(pair: str) -> str:
    """Freqtrade pair ('BTC/USDT:USDT') or exchange symbol ('BTCUSDT') -> 'BTCUSDT'."""
    return exchange_symbol(pair) if "/" in pair else pair


def _check(block: str, side: str, notional: float) -> None:
    if block not in BLOCKS:
        raise ValueError(f"unknown session block {block!r}; use one of {list(BLOCKS)}")
    if side not in TAKES:
        raise ValueError(f"order side must be 'buy' or 'sell', got {side!r}")
    if not 0 < notional < float("inf"):
        raise ValueError(f"order notional must be a positive finite quote amount, got {notional}")


class SlippageModel:
    """Per (exchange symbol or pair, session block name) profiles calibrated from recorded books,
    with the candle proxy as fallback."""

    def __init__(self, profiles: list[Profile] | tuple[Profile, ...] = (), *, exchange: str = "",
                 grid_bps=DEFAULT_GRID_BPS, min_snapshots: int = DEFAULT_MIN_SNAPSHOTS,
                 cadence_s: float | None = None, source: str = "") -> None:  # fmt: skip
        self.exchange, self.min_snapshots = exchange, int(min_snapshots)
        self.grid_bps = np.asarray(grid_bps, dtype="float64")
        self.cadence_s, self.source = cadence_s, source
        self.profiles = {(p.symbol, p.block): p for p in profiles}
        self._told: set[tuple[str, str]] = set()

    @classmethod
    def empty(cls) -> SlippageModel:
        """No profiles: every cost comes from the candle proxy or a given book."""
        return cls()

    @classmethod
    def load(cls, path) -> SlippageModel:
        """The model `save` wrote; `UserError` naming the file and field on bad input."""
        f = read_model_file(path)
        grid = np.asarray(f.grid_bps, dtype="float64")
        return cls([profile_from_file(p, grid) for p in f.profiles], exchange=f.exchange,
                   grid_bps=grid, min_snapshots=f.min_snapshots, cadence_s=f.cadence_s,
                   source=f.source)  # fmt: skip

    def save(self, path) -> None:
        """Write the model as JSON (format in `perpflow.execution.modelfile`)."""
        doc = {"format": FORMAT, "exchange": self.exchange, "grid_bps": self.grid_bps.tolist(),
               "min_snapshots": self.min_snapshots, "cadence_s": self.cadence_s,
               "source": self.source,
               "profiles": [profile_to_dict(p) for p in self.profiles.values()]}  # fmt: skip
        import json

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(doc, indent=1) + "\n")

    def profile(self, pair: str, block: str) -> Profile | None:
        """The usable profile of (pair, block): None when absent or thinner than
        `min_snapshots` (logged once per key)."""
        key = (_symbol(pair), block)
        prof = self.profiles.get(key)
        if prof is not None and prof.snapshots < self.min_snapshots:
            if key not in self._told:
                self._told.add(key)
                logger.warning("slippage profile %s %s: %s", *key, self.explain(pair, block))
            return None
        return prof

    def explain(self, pair: str, block: str) -> str:
        """One line on which profile (pair, block) uses and why."""
        prof = self.profiles.get((_symbol(pair), block))
        if prof is None:
            return "no recorded books for this symbol and block: candle proxy"
        what = (f"{prof.snapshots} snapshots ({prof.captures} capture(s)) "
                f"{prof.first_ts} .. {prof.last_ts}")  # fmt: skip
        if prof.snapshots < self.min_snapshots:
            return f"{what}: fewer than min_snapshots={self.min_snapshots}, not used: candle proxy"
        return f"profile from {what}"

    def cost(self, pair: str, block: str, side: str, notional: float, *, book: dict | None = None,
             sigma_bps_1s: float = float("nan"), latency_s: float = 1.0,
             candle_range_bps: float = float("nan"),
             candle_quote_volume: float = float("nan")) -> Cost:  # fmt: skip
        """Cost of a `side` ('buy' walks asks) order of `notional` quote on `pair` (Freqtrade
        pair or exchange symbol) in session `block`: from `book` (ccxt-style {'bids': [[p, q],
        ...], 'asks': ...}) when given and usable, else the usable profile, else the candle
        proxy from `candle_range_bps` and `candle_quote_volume`, else NaN (module docstring)."""
        _check(block, side, notional)
        drift = drift_band_bps(sigma_bps_1s, latency_s) if math.isfinite(sigma_bps_1s) else 0.0
        if book is not None:
            c = book_cost(book, side, notional, drift)
            if c is not None:
                return c
        prof = self.profile(pair, block)
        if prof is not None:
            return profile_cost(prof, side, notional, drift)
        return candle_cost(candle_range_bps, candle_quote_volume, notional, drift)

    def depth_notional(self, pair: str, block: str, side: str, bps: float) -> float:
        """Median quote notional within `bps` of mid on the side a `side` order takes (NaN
        without a usable profile or beyond the recorded reach)."""
        _check(block, side, 1.0)
        prof = self.profile(pair, block)
        if prof is None:
            return float("nan")
        return depth_within(*prof.curve(TAKES[side], 1, 1), bps)


def _levels(book: dict, key: str) -> np.ndarray:
    rows = book.get(key) or []
    try:
        arr = np.asarray(rows, dtype="float64")
    except ValueError:  # ragged rows ([p, q] and [p, q, id]): keep price and size
        arr = np.asarray([r[:2] for r in rows], dtype="float64")
    return arr.reshape(len(rows), -1)[:, :2] if len(rows) else arr.reshape(0, 2)


def book_cost(book: dict, side: str, notional: float, drift: float) -> Cost | None:
    """The walk of a ccxt-style `book` (see `SlippageModel.cost`); None when it has no two
    sides or is crossed (logged). Past its last level: extrapolated at its mean density."""
    bids, asks = _levels(book, "bids"), _levels(book, "asks")
    if not len(bids) or not len(asks) or not bids[0, 0] < asks[0, 0]:
        logger.warning("order book unusable for a cost (empty side or crossed): %s bids, %s asks",
                       len(bids), len(asks))  # fmt: skip
        return None
    mid = (bids[0, 0] + asks[0, 0]) / 2
    hs = (asks[0, 0] - bids[0, 0]) / 2 / mid * 1e4
    lv = asks if side == "buy" else bids
    total = walk_cost_bps(lv[:, 0], lv[:, 1], notional, mid)
    extrapolated = math.isinf(total)
    if extrapolated:
        total = _beyond_book(lv, notional, mid, hs)
    return Cost(float(hs), float(total - hs), 0.0, (float(total - drift), float(total + drift)), "book",
                extrapolated)  # fmt: skip


def _beyond_book(lv: np.ndarray, notional: float, mid: float, hs: float) -> float:
    """Cost of an order larger than the book: every level walked, the rest filled at the book's
    mean density (quote per bp from the half spread to its last level) past its last level."""
    ok = np.isfinite(lv).all(axis=1) & (lv[:, 1] > 0)
    p, q = lv[ok, 0], lv[ok, 1]
    held = float(np.cumsum(p * q)[-1])
    reach = abs(p[-1] / mid - 1) * 1e4
    if not reach > hs:
        return float("inf")
    walked = walk_cost_bps(p, q, held * (1 - 1e-12), mid)
    rest = notional - held
    end = reach + rest / (held / (reach - hs))
    return (walked * held + rest * (reach + end) / 2) / notional


def profile_curves(prof: Profile, side: str) -> tuple:
    """(p50 curve, (p10 spread, p90 depth) curve, (p90 spread, p10 depth) curve, density) of
    the book side a `side` order walks; cached per profile (profiles are immutable)."""
    key = (id(prof), side)
    hit = _CURVES.get(key)
    if hit is None or hit[0] is not prof:
        s = TAKES[side]
        hit = (
            prof,
            (prof.curve(s, 1, 1), prof.curve(s, 0, 2), prof.curve(s, 2, 0), prof.density(s)),
        )
        _CURVES[key] = hit
    return hit[1]


_CURVES: dict[tuple[int, str], tuple] = {}


def profile_cost(prof: Profile, side: str, notional: float, drift: float) -> Cost:
    """The profile walk: p50 spread and depth for the cost, (p10 spread, p90 depth) and
    (p90 spread, p10 depth) for the band, plus the drift band."""
    mid_curve, low_curve, high_curve, rho = profile_curves(prof, side)
    mid_c, ext = curve_cost_bps(*mid_curve, notional, rho)
    low, _ = curve_cost_bps(*low_curve, notional, rho)
    high, _ = curve_cost_bps(*high_curve, notional, rho)
    hs = float(prof.spread_bps[1] / 2)
    return Cost(hs, mid_c - hs, 0.0, (low - drift, high + drift), "profile", bool(ext))


def candle_cost(range_bps: float, quote_volume: float, notional: float, drift: float) -> Cost:
    """The square-root candle proxy (module docstring); `NO_COST` without usable inputs."""
    if not (math.isfinite(range_bps) and range_bps >= 0 and quote_volume > 0):
        return NO_COST
    impact = float(sqrt_impact_bps(range_bps, quote_volume, notional))
    return Cost(0.0, impact, 0.0, (impact / 2 - drift, impact * 2 + drift), "candles")
