"""Freqtrade callbacks that apply perpflow's risk rules (mixed into strategy classes).

Callbacks keep Freqtrade's signatures, read only the last analysed row, and call the pure
functions of `perpflow.risk`. Stop levels live on the trade (`set_custom_data`) so a restart
keeps them. A class using this mixin must set `self.pf` (a `PerpflowConfig`) in `bot_start`.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from freqtrade.enums import RunMode
from freqtrade.persistence import Trade
from freqtrade.strategy import stoploss_from_absolute

from perpflow.config import PerpflowConfig
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.sizing import clamp_stake, risk_stake
from perpflow.risk.stops import initial_stop, stop_distance, trail_stop
from perpflow.strategy.failclosed import log_limited

logger = logging.getLogger(__name__)

BACKTEST_MODES = (RunMode.BACKTEST, RunMode.HYPEROPT)
ROW_FIELDS = ("close", "low", "high", "atr", "liq_support", "liq_resistance")
STOP_KEY = "pf_stop"
INITIAL_STOP_KEY = "pf_initial_stop"


class RiskCallbacksMixin:
    """`leverage`, `custom_stake_amount`, `custom_stoploss` and `custom_exit` from perpflow.risk."""

    pf: PerpflowConfig

    def _last_row(self, pair: str) -> dict | None:
        """The fields the callbacks read from the last analysed row (column lookups by position:
        taking a whole row of a wide frame costs more than the callback)."""
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if df is None or df.empty:
            return None
        cols = df.columns
        return {c: df.iat[-1, cols.get_loc(c)] for c in ROW_FIELDS if c in cols}

    def _stops(self) -> dict:
        """Per-trade stop cache: (trade id, open date) -> {key: level}. The trade's custom data
        stays the record (it survives restarts); the cache spares Freqtrade's custom-data lookup,
        which scans every stored value in backtests."""
        cache = getattr(self, "_pf_stop_cache", None)
        if cache is None:
            cache = self._pf_stop_cache = {}
        return cache

    def _get_level(self, trade: Trade, key: str) -> float | None:
        slot = self._stops().setdefault((trade.id, trade.open_date_utc), {})
        if key not in slot:
            value = trade.get_custom_data(key)
            slot[key] = None if value is None else float(value)
        return slot[key]

    def _set_level(self, trade: Trade, key: str, value: float) -> None:
        """Cache the level; persist it on the trade in dry-run/live (a restart reads it back).
        Backtests keep only the first value of each key on the trade: the trail lives in the
        cache, since each custom-data write scans every stored value there."""
        slot = self._stops().setdefault((trade.id, trade.open_date_utc), {})
        first = key not in slot or slot[key] is None
        slot[key] = float(value)
        if first or self.config.get("runmode") not in BACKTEST_MODES:
            trade.set_custom_data(key, float(value))

    def _planned_stop(self, pair: str, side: str, rate: float, tag: str | None = None) -> float:
        """Initial stop for an entry at `rate` from the signal row (NaN if unusable): beyond the
        row's extreme, or beyond the liquidation cluster's extreme for `liq_reversal_*` entries."""
        row = self._last_row(pair)
        if row is None:
            return float("nan")
        r = self.pf.risk
        extreme = float(row["low"] if side == "long" else row["high"])
        if tag and tag.startswith("liq_reversal"):
            level = float(row.get("liq_support" if side == "long" else "liq_resistance", "nan"))
            if math.isfinite(level):
                extreme = min(extreme, level) if side == "long" else max(extreme, level)
        return initial_stop(
            side, rate, extreme=float(extreme), atr=float(row.get("atr", float("nan"))),
            atr_buffer=r.stop_atr_buffer, fallback_atr=r.fallback_stop_atr,
            min_distance=r.min_stop_distance, max_distance=r.max_stop_distance,
        )  # fmt: skip

    def leverage(
        self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
        max_leverage: float, entry_tag: str | None, side: str, **kwargs,
    ) -> float:  # fmt: skip
        """Smallest of: configured cap, exchange tier cap, liquidation-beyond-stop cap."""
        r = self.pf.risk
        dist = stop_distance(current_rate, self._planned_stop(pair, side, current_rate, entry_tag))
        liq_cap = liquidation_safe_leverage(
            dist, maintenance_margin_rate=r.maintenance_margin_rate, buffer=r.liquidation_buffer
        )
        return capped_leverage(r.max_leverage, max_leverage, liq_cap)

    def custom_stake_amount(
        self, pair: str, current_time: datetime, current_rate: float, proposed_stake: float,
        min_stake: float | None, max_stake: float, leverage: float, entry_tag: str | None,
        side: str, **kwargs,
    ) -> float:  # fmt: skip
        """Margin stake so that the loss at the planned stop is `risk_per_trade` of equity."""
        dist = stop_distance(current_rate, self._planned_stop(pair, side, current_rate, entry_tag))
        if not math.isfinite(dist):
            log_limited(logger, pair, "no_stop", current_time, "no usable stop; entry skipped")
            return 0.0
        equity = self.wallets.get_total_stake_amount() if self.wallets else proposed_stake
        fee = float(kwargs.get("fee", 0.0) or 0.0)
        stake = risk_stake(
            equity, risk_fraction=self.pf.risk.risk_per_trade, stop_distance=dist,
            leverage=leverage, fee=fee,
        )  # fmt: skip
        clamped = clamp_stake(stake, min_stake=min_stake, max_stake=max_stake)
        if clamped == 0.0 and stake > 0:
            log_limited(
                logger, pair, "min_stake", current_time,
                f"minimum stake {min_stake or 0.0:.2f} exceeds the risk budget stake {stake:.2f}; "
                "entry skipped (further skips for this pair are logged at most once a day)",
            )  # fmt: skip
        return clamped

    def _stored_stop(self, pair: str, trade: Trade) -> float:
        """The trade's stop level; computed once from the entry and stored on the trade."""
        stored = self._get_level(trade, STOP_KEY)
        if stored is not None:
            return stored
        side = "short" if trade.is_short else "long"
        stop = self._planned_stop(pair, side, trade.open_rate, trade.enter_tag)
        if not math.isfinite(stop):
            r = self.pf.risk
            sign = 1.0 if trade.is_short else -1.0
            stop = trade.open_rate * (1.0 + sign * r.max_stop_distance)
        self._set_level(trade, INITIAL_STOP_KEY, stop)
        self._set_level(trade, STOP_KEY, stop)
        return stop

    def custom_stoploss(
        self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
        current_profit: float, after_fill: bool, **kwargs,
    ) -> float | None:  # fmt: skip
        """Stop beyond the swept extreme, then a `trail_atr` ATR trail; never loosened."""
        stop = self._stored_stop(pair, trade)
        row = self._last_row(pair)
        if row is not None:
            side = "short" if trade.is_short else "long"
            new = trail_stop(
                side, float(row["close"]), atr=float(row["atr"]), trail_atr=self.pf.risk.trail_atr,
                previous=stop,
            )  # fmt: skip
            if new != stop:
                stop = new
                self._set_level(trade, STOP_KEY, stop)
        return stoploss_from_absolute(
            stop, current_rate, is_short=trade.is_short, leverage=trade.leverage
        )

    def custom_exit(
        self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
        current_profit: float, **kwargs,
    ) -> str | bool | None:  # fmt: skip
        """Take profit at `take_profit_r` times the initial risk distance."""
        initial = self._get_level(trade, INITIAL_STOP_KEY)
        if initial is None:
            return None
        risk = abs(trade.open_rate - initial)
        target = self.pf.risk.take_profit_r * risk
        moved = (
            (trade.open_rate - current_rate) if trade.is_short else (current_rate - trade.open_rate)
        )
        return "take_profit_r" if risk > 0 and moved >= target else None
