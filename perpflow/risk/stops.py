"""Stop levels: beyond the swept extreme (or an ATR stop), then an ATR trail that never loosens."""

from __future__ import annotations

import math


def initial_stop(
    side: str,
    entry: float,
    *,
    extreme: float | None,
    atr: float,
    atr_buffer: float = 0.25,
    fallback_atr: float = 1.5,
    min_distance: float = 0.004,
    max_distance: float = 0.06,
) -> float:
    """Stop price for a new position.

    Long: `atr_buffer` ATR below the swept low `extreme`, else `fallback_atr` ATR below entry;
    short mirrored. The distance is clamped to [min_distance, max_distance] of the entry price.
    Returns NaN when entry or ATR is unusable (the caller must not open the trade).
    """
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    if not (entry > 0 and atr > 0 and math.isfinite(entry) and math.isfinite(atr)):
        return float("nan")
    sign = -1.0 if side == "long" else 1.0
    candidate = float("nan")
    if extreme is not None and math.isfinite(extreme) and extreme > 0:
        candidate = extreme + sign * atr_buffer * atr
    if not (candidate - entry) * sign > 0:  # no extreme, or it lies on the wrong side of entry
        candidate = entry + sign * fallback_atr * atr
    distance = min(max(abs(entry - candidate) / entry, min_distance), max_distance)
    return entry * (1.0 + sign * distance)


def trail_stop(side: str, price: float, *, atr: float, trail_atr: float, previous: float) -> float:
    """Trailing stop `trail_atr` ATR from `price`, never looser than `previous`."""
    if not (atr > 0 and math.isfinite(atr) and math.isfinite(price)):
        return previous
    if side == "long":
        return max(previous, price - trail_atr * atr)
    return min(previous, price + trail_atr * atr)


def stop_distance(entry: float, stop: float) -> float:
    """|entry - stop| / entry."""
    return abs(entry - stop) / entry if entry > 0 else float("nan")


def structure_extreme(side: str, entry: float, candle_extreme: float, pool_level: float, *,
                      max_distance: float) -> float:  # fmt: skip
    """The level the stop must sit beyond: the opposing liquidity pool (equal lows below a long,
    equal highs above a short) when it lies beyond the candle's extreme and within
    `max_distance` of entry (stops sit past the liquidity a run would take), else the extreme."""
    if not (math.isfinite(pool_level) and pool_level > 0 and entry > 0):
        return candle_extreme
    beyond = pool_level < candle_extreme if side == "long" else pool_level > candle_extreme
    near = abs(entry - pool_level) / entry <= max_distance
    return pool_level if beyond and near else candle_extreme


def session_trail_atr(base: float, session: str, multipliers: dict[str, float]) -> float:
    """Trailing band width for the current session: `base` x the session's multiplier (wider in
    the volatile New York open, tighter in the quiet Asia/London block); 1 for unknown ones."""
    return base * float(multipliers.get(session, 1.0))
