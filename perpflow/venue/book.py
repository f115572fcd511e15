"""A synthetic order book around a price: deterministic, tick-aligned, deeper away from the touch.

Written by hand because it is a stand-in for a real book in the local exchange (replay mode), so
that Freqtrade's dry-run limit orders and order-book pricing see a plausible market.
"""

from __future__ import annotations

import math

import numpy as np


def _round_to(value: np.ndarray, step: float, mode: str) -> np.ndarray:
    fn = {"down": np.floor, "up": np.ceil, "near": np.round}[mode]
    return fn(value / step + (1e-9 if mode == "down" else -1e-9 if mode == "up" else 0)) * step


def synth_book(
    mid: float, *, tick: float, step: float, min_qty: float, levels: int, seed: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Bids and asks (`[[price, qty], ...]`, best first) around `mid`.

    The best bid is the tick at or below mid and the best ask one tick above it; levels are one
    tick apart. Sizes grow with distance from the touch and vary deterministically with `seed`
    (e.g. the timestamp), so the same instant always gives the same book.
    """
    if not (mid > 0 and math.isfinite(mid)):
        return [], []
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    best_bid = float(_round_to(np.array([mid]), tick, "down")[0])
    if best_bid <= 0:
        best_bid = tick
    i = np.arange(levels)
    bids = best_bid - i * tick
    asks = best_bid + (i + 1) * tick
    notional = 2_000.0 * (1.0 + 0.35 * i) * rng.lognormal(0.0, 0.4, size=(2, levels))
    qty = np.maximum(_round_to(notional / mid, step, "near"), min_qty)
    keep = bids > 0
    return (
        [[float(p), float(q)] for p, q in zip(bids[keep], qty[0][keep], strict=True)],
        [[float(p), float(q)] for p, q in zip(asks, qty[1], strict=True)],
    )
