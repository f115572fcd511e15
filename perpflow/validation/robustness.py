"""Robustness: every numeric perpflow parameter perturbed (one at a time and jointly), latency
(entries delayed by whole candles) and extra fees, and a verdict that flags fragile parameters."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from freqtrade.misc import deep_merge_dicts

from perpflow.config import PerpflowConfig, PerpflowConfigError, load_perpflow_config
from perpflow.validation.study import Variant

SKIP = {"validation", "ai"}  # study knobs, and LiquiditySweepAI's vote (not a LiquiditySweep knob)


def numeric_parameters(cfg: PerpflowConfig) -> dict[str, float]:
    """Dotted path -> value for every int/float field of the perpflow section (not bools)."""
    out: dict[str, float] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if path.split(".")[0] in SKIP:
                continue
            if isinstance(value, dict) and value.get("enabled") is False:
                continue  # a switched-off filter's knobs change nothing: not perturbed
            if isinstance(value, dict) and not key.endswith("session_trail"):
                walk(value, path)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[path] = value

    walk(cfg.model_dump(), "")
    return out


def _nest(path: str, value) -> dict:
    node: dict = {}
    cur = node
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return node


def _merge(base: dict, update: dict) -> dict:
    """A deep copy of `base` with `update` merged in (Freqtrade's own config merge)."""
    return deep_merge_dicts(copy.deepcopy(update), copy.deepcopy(base))


def perturbed(value, factor: float):
    """value x factor, kept an int for ints (at least one step away from the base)."""
    if isinstance(value, int):
        new = int(round(value * factor))
        if new == value:
            new = value + (1 if factor > 1 else -1)
        return new
    return value * factor


def _valid(section: dict) -> bool:
    try:
        load_perpflow_config({"perpflow": section})
    except PerpflowConfigError:
        return False
    return True


def perturbation_variants(base: dict, timerange: str, *, params: list[str] | None = None,
                          pct: float = 0.10, joint: int = 0, seed: int = 0,
                          ) -> tuple[list[Variant], list[dict]]:  # fmt: skip
    """Base run, every parameter at -pct and +pct, and `joint` random variants with every
    parameter scaled by U(1-pct, 1+pct). Returns (variants, skipped: perturbations the config
    model rejects, e.g. a bound crossed, with the reason)."""
    cfg = load_perpflow_config({"perpflow": base})
    values = numeric_parameters(cfg)
    names = params or sorted(values)
    unknown = set(names) - set(values)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; choose from {sorted(values)}")
    variants = [Variant("base", timerange, {"perpflow": base}, meta={"kind": "base"})]
    skipped = []
    for name in names:
        for sign, factor in (("minus", 1 - pct), ("plus", 1 + pct)):
            new = perturbed(values[name], factor)
            section = _merge(base, _nest(name, new))
            meta = {"kind": "one", "param": name, "base": values[name], "value": new, "dir": sign}
            if _valid(section):
                variants.append(
                    Variant(f"p-{name}-{sign}", timerange, {"perpflow": section}, meta=meta)
                )
            else:
                skipped.append(meta)
    rng = np.random.default_rng(seed)
    made, attempts = 0, 0
    while made < joint and attempts < 20 * joint:  # draws the model rejects are redrawn
        attempts += 1
        section = dict(base)
        for name in names:
            section = _merge(section, _nest(name, perturbed(values[name],
                                                            rng.uniform(1 - pct, 1 + pct))))  # fmt: skip
        if _valid(section):
            variants.append(Variant(f"joint-{made:03d}", timerange, {"perpflow": section},
                                    meta={"kind": "joint"}))  # fmt: skip
            made += 1
    return variants, skipped


def latency_variants(base: dict, timerange: str, *, delays=(1, 2), extra_fees=(0.001,),
                     base_fee: float = 0.0005) -> list[Variant]:  # fmt: skip
    """Entries delayed by N candles (the fill moves to a later, usually worse price) and fees
    raised by `extra_fees` per side (slippage)."""
    out = []
    for d in delays:
        section = _merge(base, {"validation": {"entry_delay_candles": d}})
        out.append(Variant(f"latency-{d}c", timerange, {"perpflow": section},
                           meta={"kind": "latency", "delay": d}))  # fmt: skip
    for f in extra_fees:
        out.append(Variant(f"fee-plus-{f:g}", timerange, {"perpflow": base}, fee=base_fee + f,
                           meta={"kind": "fee", "extra_fee": f}))  # fmt: skip
    return out


def verdict(results: pd.DataFrame, metric: str = "profit_pct") -> pd.DataFrame:
    """One row per perturbed parameter: the metric at -pct, base and +pct; `fragile` when either
    side flips the sign of the base result or moves it by more than half its magnitude."""
    base = float(results.loc[results["id"] == "base", metric].iloc[0])
    one = results[results["kind"] == "one"]
    rows = []
    for name, g in one.groupby("param"):
        lo = g.loc[g["dir"] == "minus", metric]
        hi = g.loc[g["dir"] == "plus", metric]
        vals = [v for v in (*lo, *hi) if np.isfinite(v)]
        flips = any(np.sign(v) != np.sign(base) for v in vals)
        big = any(abs(v - base) > 0.5 * max(abs(base), 1e-9) for v in vals)
        rows.append({"param": name, "minus": lo.iloc[0] if len(lo) else np.nan, "base": base,
                     "plus": hi.iloc[0] if len(hi) else np.nan, "fragile": flips or big})  # fmt: skip
    return pd.DataFrame(rows)
