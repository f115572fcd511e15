"""What a live bot pays every candle: LiquiditySweep's indicators on a live-sized frame.

In dry-run and live Freqtrade analyses each pair's whole frame again at every new candle. With
LiquiditySweep's derived warm-up that frame is 2,022 5m candles, so the cost of one
`populate_sweep_indicators` call (funding, open interest and the liquidation store of the demo
market included) is paid per pair per candle. Timed against Freqtrade's own SampleStrategy's
`populate_indicators` on the same frame in the same run (best of `REPEATS` rounds of `CALLS`
calls, interleaved), with the share of each part of the call.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "user_data" / "data" / "demo"
ROWS, CALLS, REPEATS = 2022, 10, 3
PARTS = ("_structure", "liquidations_on_candles", "funding_on_candles", "oi_on_candles",
         "_add_gates", "session_context", "conviction", "_macro", "book_on_candles")  # fmt: skip


def _sample_strategy():
    import freqtrade

    path = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
    spec = importlib.util.spec_from_file_location("sample_strategy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SampleStrategy({})


def _inputs(cfg):
    def read(name: str) -> pd.DataFrame:
        return pd.read_feather(DEMO / "futures" / f"BTC_USDT_USDT-{name}.feather")

    base = read("5m-futures").tail(ROWS).reset_index(drop=True)
    end = base["date"].iloc[-1]
    fund = read("1h-funding_rate")
    oi = read(f"{cfg.filters.open_interest.timeframe}-open_interest")
    return base, fund[fund["date"] <= end].tail(500), oi[oi["date"] <= end].tail(2000)


def _timed_parts(module, names):
    """Wrap `names` of `module` to add their wall time to a dict; returns it."""
    spent: dict[str, float] = {}
    for name in names:
        fn = getattr(module, name)

        def wrapped(*a, _fn=fn, _name=name, **k):
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - t

        setattr(module, name, wrapped)
    return spent


def main() -> dict:
    import perpflow.strategy.sweep_signals as sweep
    from perpflow.config import load_perpflow_config

    if not (DEMO / "futures").exists():
        raise SystemExit(f"{DEMO}: no demo market; run `make demo-data` first")
    cfg = load_perpflow_config(json.loads((REPO / "config.json").read_text()))
    base, fund, oi = _inputs(cfg)
    sample = _sample_strategy()

    def ours():
        sweep.populate_sweep_indicators(base, pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m",
                                        funding=fund, open_interest=oi,
                                        liquidation_store=DEMO / "store")  # fmt: skip

    def theirs():
        sample.populate_indicators(base.copy(), {"pair": "BTC/USDT:USDT"})

    ours(), theirs()  # caches, numba, first reads
    best = {"ours": float("inf"), "theirs": float("inf")}
    for _ in range(REPEATS):
        for name, fn in (("ours", ours), ("theirs", theirs)):
            t = time.perf_counter()
            for _ in range(CALLS):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t) / CALLS)
    spent = _timed_parts(sweep, PARTS)
    for _ in range(CALLS):
        ours()
    ratio = best["ours"] / best["theirs"]
    print(f"one live analysis of a {ROWS:,}-candle 5m frame (BTC, demo market): LiquiditySweep's "
          f"populate_sweep_indicators {best['ours'] * 1e3:.0f} ms vs SampleStrategy's "
          f"populate_indicators {best['theirs'] * 1e3:.0f} ms: {ratio:.1f}x; per pair per candle")  # fmt: skip
    total = sum(spent.values())
    print("  parts: " + ", ".join(f"{k.strip('_')} {v / CALLS * 1e3:.0f} ms ({v / total:.0%})"
                                  for k, v in sorted(spent.items(), key=lambda kv: -kv[1])))  # fmt: skip
    return {"live_call_ms": best["ours"] * 1e3, "sample_call_ms": best["theirs"] * 1e3,
            "ratio": ratio, "parts_ms": {k: v / CALLS * 1e3 for k, v in spent.items()}}  # fmt: skip


if __name__ == "__main__":
    main()
