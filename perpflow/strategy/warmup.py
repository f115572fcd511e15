"""The candles every feature needs before its value at t is complete, derived from the config.

Each feature module declares its warm-up next to the feature (`atr_warmup`, `regime_warmup`,
`funding_warmup_hours`, ...); this registry turns the active `perpflow` section (and FreqAI's
section for LiquiditySweepAI) into one `WarmupNeed` per feature: which series it reads (timeframe,
Freqtrade candle type), how many of that series' candles, and the config key that sets it. The
strategies' `startup_candle_count` is the largest need; `perpflow.strategy.live_window` checks the
needs against what Freqtrade loads live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpflow.ai.features import ai_warmup
from perpflow.config import PerpflowConfig
from perpflow.execution.calibrate import model_inputs_warmup
from perpflow.features.funding import MAX_FUNDING_INTERVAL_HOURS, funding_warmup_hours
from perpflow.features.liquidations import liquidation_warmup
from perpflow.features.open_interest import oi_regime_warmup
from perpflow.features.pools import pool_warmup
from perpflow.features.regime import regime_warmup
from perpflow.features.sessions import session_warmup
from perpflow.features.swings import swing_warmup
from perpflow.features.volatility import atr_warmup
from perpflow.features.volume_profile import profile_warmup

FUNDING = ("1h", "funding_rate")  # the series Freqtrade serves funding settlements as


@dataclass(frozen=True)
class WarmupNeed:
    """`candles` of the (`timeframe`, `candle_type`) series that `feature` reads back from t.
    `key` is the config key that sets it (None: fixed in code) with its current `value`,
    `detail` how the count follows from the config, `per_unit` the candles one unit of `key`
    adds (None: not linear, no value is suggested)."""

    feature: str
    key: str | None
    value: float | None
    timeframe: str
    candle_type: str
    candles: int
    detail: str
    per_unit: float | None = 1.0

    @property
    def series(self) -> tuple[str, str]:
        return self.timeframe, self.candle_type


def _base_needs(cfg: PerpflowConfig, tf: str, ct: str) -> list[WarmupNeed]:
    """Needs of the features computed on the strategy's own candles (always computed: the regime
    percentile also sizes positions, the profile feeds the structure gate and the model)."""
    rg, sc, st, r = cfg.filters.regime, cfg.sweep, cfg.filters.structure, cfg.risk
    key = "perpflow.filters"
    return [
        WarmupNeed("volatility regime (rv_pct)", f"{key}.regime.lookback", rg.lookback, tf, ct,
                   regime_warmup(rg.window, rg.lookback),
                   f"lookback {rg.lookback} + window {rg.window}"),
        WarmupNeed("ATR (Wilder, settled)", "perpflow.risk.atr_period", r.atr_period, tf, ct,
                   atr_warmup(r.atr_period), f"atr_period {r.atr_period} + 1 + seed decay",
                   per_unit=None),
        WarmupNeed("liquidity pools", "perpflow.sweep.pool_max_age", sc.pool_max_age, tf, ct,
                   pool_warmup(sc.pool_fractal, sc.pool_fractal, sc.pool_max_age),
                   f"pool_max_age {sc.pool_max_age} + 2 x pool_fractal {sc.pool_fractal} + 1"),
        WarmupNeed("swings", "perpflow.sweep.swing_left", sc.swing_left, tf, ct,
                   swing_warmup(sc.swing_left, sc.swing_right),
                   f"swing_left {sc.swing_left} + swing_right {sc.swing_right} + 1"),
        WarmupNeed("rolling volume profile (vp_*)", f"{key}.structure.profile_window",
                   st.profile_window, tf, ct, profile_warmup(st.profile_window),
                   f"profile_window {st.profile_window} + step - 1"),
        WarmupNeed("session-anchored profile", None, None, tf, ct, session_warmup(tf),
                   "longest New York session block + 1 h (daylight saving)", None),
    ]  # fmt: skip


def _series_needs(cfg: PerpflowConfig, tf: str, ct: str) -> list[WarmupNeed]:
    """Needs of the features on funding, open interest and stored liquidations (when enabled)."""
    f, o, lq = cfg.filters.funding, cfg.filters.open_interest, cfg.filters.liquidations
    out = []
    if f.enabled:
        out.append(WarmupNeed(
            "funding z-score", "perpflow.filters.funding.lookback", f.lookback, *FUNDING,
            funding_warmup_hours(f.lookback),
            f"lookback {f.lookback} settlements x {MAX_FUNDING_INTERVAL_HOURS} h",
            per_unit=MAX_FUNDING_INTERVAL_HOURS))  # fmt: skip
    if o.enabled:
        # +1: the latest OI row is knowable one OI period after its stamp
        out.append(WarmupNeed(
            "open-interest regime", "perpflow.filters.open_interest.regime_window",
            o.regime_window, o.timeframe, "open_interest",
            oi_regime_warmup(o.change_periods, o.regime_window) + 1,
            f"regime_window {o.regime_window} + change_periods {o.change_periods} + 1"))  # fmt: skip
    if lq.enabled:
        out.append(WarmupNeed(
            "liquidation clusters", "perpflow.filters.liquidations.lookback", lq.lookback, tf, ct,
            liquidation_warmup(lq.lookback, max(lq.cascade_window, lq.max_bars_after + 1)),
            f"lookback {lq.lookback} + max(cascade_window {lq.cascade_window}, "
            f"max_bars_after {lq.max_bars_after} + 1) - 1"))  # fmt: skip
    if cfg.execution.enabled:
        out.append(WarmupNeed(
            "slippage model inputs (perpflow.execution)", None, None, tf, ct,
            model_inputs_warmup(tf), "7 days of each session block's candles, + 1", None))  # fmt: skip
    return out


def freqai_needs(freqai: dict[str, Any], tf: str, ct: str) -> list[WarmupNeed]:
    """Needs of LiquiditySweepAI's model inputs: its own `%-` features on the strategy candles
    and FreqAI's expansion on every `include_timeframes` entry (the longest
    `indicator_periods_candles` period, shifted `include_shifted_candles` times, read as a change)."""
    fp = freqai.get("feature_parameters", {})
    periods = max(fp.get("indicator_periods_candles") or [1])
    shifted = int(fp.get("include_shifted_candles", 0))
    out = [WarmupNeed("model features (perpflow.ai.features)", None, None, tf, ct, ai_warmup(),
                      "longest return / rolling window of the `%-` features", None)]  # fmt: skip
    for itf in fp.get("include_timeframes") or [tf]:
        out.append(WarmupNeed(
            f"FreqAI features on {itf}", "freqai.feature_parameters.indicator_periods_candles",
            periods, itf, ct, periods + shifted + 1,
            f"max period {periods} + include_shifted_candles {shifted} + 1"))  # fmt: skip
    return out


def warmup_needs(
    cfg: PerpflowConfig, timeframe: str, *, candle_type: str = "futures",
    freqai: dict[str, Any] | None = None,
) -> list[WarmupNeed]:  # fmt: skip
    """Every feature's need for the strategy `timeframe` (its candles are `candle_type`), plus
    the model's when `freqai` (an enabled FreqAI config section) is given."""
    needs = _base_needs(cfg, timeframe, candle_type) + _series_needs(cfg, timeframe, candle_type)
    if freqai:
        needs += freqai_needs(freqai, timeframe, candle_type)
    return needs


def warmup_requirements(
    cfg: PerpflowConfig, timeframe: str, *, candle_type: str = "futures",
    freqai: dict[str, Any] | None = None,
) -> dict[tuple[str, str], int]:  # fmt: skip
    """{(timeframe, candle_type): candles} - the largest need per series."""
    out: dict[tuple[str, str], int] = {}
    for need in warmup_needs(cfg, timeframe, candle_type=candle_type, freqai=freqai):
        out[need.series] = max(out.get(need.series, 0), need.candles)
    return out


def binding_need(needs: list[WarmupNeed]) -> WarmupNeed:
    """The need that sets the start-up count (the largest)."""
    return max(needs, key=lambda n: n.candles)


def startup_candles(needs: list[WarmupNeed]) -> int:
    """Freqtrade's `startup_candle_count`: the largest need in its own series' candles.

    Backtesting loads `startup_candle_count` candles of every series (strategy timeframe and
    informative ones) before the first candle it trades, so each need must fit in that count."""
    return binding_need(needs).candles
