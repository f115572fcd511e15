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
from perpflow.features.sessions import SESSION_NAMES
from perpflow.risk.conviction import conviction_leverage
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.sizing import clamp_stake, risk_stake, volatility_scale
from perpflow.risk.stops import (
    initial_stop,
    session_trail_atr,
    stop_distance,
    structure_extreme,
    trail_stop,
)
from perpflow.strategy.failclosed import log_limited

logger = logging.getLogger(__name__)

BACKTEST_MODES = (RunMode.BACKTEST, RunMode.HYPEROPT)
ROW_FIELDS = (
    "date", "close", "low", "high", "atr", "liq_support", "liq_resistance", "pool_low_level",
    "pool_high_level", "rv_pct", "conviction_long", "conviction_short", "funding_rate_last",
    "funding_interval_h", "session_block", "macro_blackout",
)  # fmt: skip
TRAIL_FIELDS = ("close", "atr", "session_block")  # what the per-candle trail reads
STOP_KEY = "pf_stop"
INITIAL_STOP_KEY = "pf_initial_stop"


def _f(row: dict, key: str) -> float:
    """A float field of the row, NaN when absent or not a number."""
    try:
        return float(row.get(key, float("nan")))
    except (TypeError, ValueError):
        return float("nan")


class RiskCallbacksMixin:
    """`leverage`, `custom_stake_amount`, `custom_stoploss` and `custom_exit` from perpflow.risk.

    The governor scale (`_risk_scale`, 1.0 unless a `RiskGuardMixin` lowers it) multiplies size
    and leverage."""

    def _risk_scale(self) -> float:
        return 1.0

    def _risk_budget(self) -> tuple[float, str | None]:
        """(quote loss at the stop a new trade may take, why none fits); no cap without a guard."""
        return math.inf, None

    pf: PerpflowConfig

    def _last_row(self, pair: str, fields: tuple[str, ...] = ROW_FIELDS) -> dict | None:
        """`fields` of the last analysed row (column lookups by position: taking a whole row of a
        wide frame costs more than the callback; per-candle callers ask only for what they use)."""
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if df is None or df.empty:
            return None
        cols = df.columns
        return {c: df.iat[-1, cols.get_loc(c)] for c in fields if c in cols}

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

    def _planned_stop(self, pair: str, side: str, rate: float, tag: str | None = None,
                      row: dict | None = None) -> float:  # fmt: skip
        """Initial stop for an entry at `rate` from the signal row (`row`, else fetched; NaN if
        unusable): beyond the row's extreme, or the liquidation cluster's for `liq_reversal_*`."""
        row = row if row is not None else self._last_row(pair)
        if row is None:
            return float("nan")
        r = self.pf.risk
        long = side == "long"
        extreme = _f(row, "low" if long else "high")
        if tag and tag.startswith("liq_reversal"):
            level = _f(row, "liq_support" if long else "liq_resistance")
            if math.isfinite(level):
                extreme = min(extreme, level) if long else max(extreme, level)
        if r.pool_stops:
            extreme = structure_extreme(
                side, rate, extreme, _f(row, "pool_low_level" if long else "pool_high_level"),
                max_distance=r.max_stop_distance,
            )  # fmt: skip
        extreme += (-1.0 if long else 1.0) * r.stop_tick_buffer * self._tick(pair)
        return initial_stop(
            side, rate, extreme=extreme, atr=_f(row, "atr"),
            atr_buffer=r.stop_atr_buffer, fallback_atr=r.fallback_stop_atr,
            min_distance=r.min_stop_distance, max_distance=r.max_stop_distance,
        )  # fmt: skip

    def _mmr(self, pair: str, floor: float) -> float:
        """Maintenance margin rate: the pair's first exchange tier (Freqtrade's tiers) or the
        configured floor, whichever is larger."""
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        try:
            rate = float(exchange.get_maintenance_ratio_and_amt(pair, 0.0)[0])
        except Exception:  # noqa: BLE001 (no tiers loaded: the configured rate stands)
            return floor
        return max(floor, rate) if math.isfinite(rate) else floor

    def _tick(self, pair: str) -> float:
        """The pair's price tick from the exchange markets (0 when unknown)."""
        try:
            tick = float(self.dp.market(pair)["precision"]["price"] or 0.0)
        except (AttributeError, KeyError, TypeError):
            return 0.0
        return tick if math.isfinite(tick) else 0.0

    def leverage(
        self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
        max_leverage: float, entry_tag: str | None, side: str, **kwargs,
    ) -> float:  # fmt: skip
        """Smallest of: the conviction cap (x the governor scale), the exchange tier cap and the
        liquidation-beyond-stop cap."""
        row = self._last_row(pair)
        stop = self._planned_stop(pair, side, current_rate, entry_tag, row)
        return self._leverage_cap(pair, side, current_rate, stop, row or {}, max_leverage)

    def _leverage_cap(self, pair: str, side: str, rate: float, stop: float, row: dict,
                      exchange_max: float) -> float:  # fmt: skip
        """`leverage` for a known stop and signal row."""
        r = self.pf.risk
        liq_cap = liquidation_safe_leverage(
            stop_distance(rate, stop), maintenance_margin_rate=self._mmr(pair, r.maintenance_margin_rate),
            buffer=r.liquidation_buffer,
            exchange_buffer=float(self.config.get("liquidation_buffer", 0.05)),
        )  # fmt: skip
        conv = conviction_leverage(
            _f(row, f"conviction_{side}"), min_leverage=r.min_leverage, max_leverage=r.max_leverage
        )
        return capped_leverage(conv * self._risk_scale(), r.max_leverage, exchange_max, liq_cap,
                               step=self._leverage_step())  # fmt: skip

    def _leverage_step(self) -> float:
        """1.0 on exchanges that hold whole leverage only (Freqtrade's `floor_leverage`, Binance):
        live, Freqtrade floors what `leverage` returns, so a fractional answer would make the
        exchange hold more margin than the stake (and refuse the next entry with -2019) while the
        backtest assumed the fraction."""
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        floors = bool(getattr(exchange, "_ft_has", {}).get("floor_leverage", False))
        return 1.0 if floors else 0.01

    def custom_stake_amount(
        self, pair: str, current_time: datetime, current_rate: float, proposed_stake: float,
        min_stake: float | None, max_stake: float, leverage: float, entry_tag: str | None,
        side: str, **kwargs,
    ) -> float:  # fmt: skip
        """Margin stake so that the loss at the planned stop is `risk_per_trade` of equity, halved
        in the top volatility decile and scaled by the drawdown governor, and shrunk to the risk
        budget left before the hard drawdown cap (0 = no entry, logged)."""
        row = self._last_row(pair)
        dist = stop_distance(current_rate,
                             self._planned_stop(pair, side, current_rate, entry_tag, row))  # fmt: skip
        if not math.isfinite(dist):
            log_limited(logger, pair, "no_stop", current_time, "no usable stop; entry skipped")
            return 0.0
        equity = self.wallets.get_total_stake_amount() if self.wallets else proposed_stake
        fee = float(kwargs.get("fee", 0.0) or 0.0)
        r = self.pf.risk
        row = row or {}
        scale = self._risk_scale() * volatility_scale(
            _f(row, "rv_pct"), threshold=r.high_vol_pct, scale=r.high_vol_scale
        )
        stake = scale * risk_stake(
            equity, risk_fraction=r.risk_per_trade, stop_distance=dist, leverage=leverage, fee=fee,
        )  # fmt: skip
        stake = self._fit_budget(pair, current_time, stake, dist, leverage, fee)
        clamped = clamp_stake(stake, min_stake=min_stake, max_stake=max_stake)
        if clamped == 0.0 and stake > 0:
            log_limited(
                logger, pair, "min_stake", current_time,
                f"minimum stake {min_stake or 0.0:.2f} exceeds the risk budget stake {stake:.2f}; "
                "entry skipped (further skips for this pair are logged at most once a day)",
            )  # fmt: skip
        return clamped

    def _fit_budget(self, pair: str, now: datetime, stake: float, dist: float, leverage: float,
                    fee: float) -> float:  # fmt: skip
        """`stake`, shrunk so its loss at the stop (with fees) fits the governor's budget."""
        budget, why = self._risk_budget()
        if why:
            log_limited(logger, pair, "governor_budget", now, f"entry skipped: {why}")
            return 0.0
        if not math.isfinite(budget):
            return stake
        cap = risk_stake(budget, risk_fraction=1.0, stop_distance=dist, leverage=leverage, fee=fee)
        if stake > cap:
            log_limited(logger, pair, "governor_shrink", now,
                        f"stake {stake:,.2f} shrunk to {cap:,.2f}: the risk budget left before the "
                        f"hard drawdown cap is {budget:,.2f}")  # fmt: skip
            return cap
        return stake

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
        """Stop beyond the swept extreme or opposing pool, then a `trail_atr` ATR trail whose width
        follows the session (`session_trail`); never loosened."""
        stop = self._stored_stop(pair, trade)
        row = self._last_row(pair, TRAIL_FIELDS)
        if row is not None:
            side = "short" if trade.is_short else "long"
            block = _f(row, "session_block")
            band = session_trail_atr(
                self.pf.risk.trail_atr, SESSION_NAMES.get(int(block) if block == block else 0, ""),
                self.pf.risk.session_trail,
            )  # fmt: skip
            new = trail_stop(side, _f(row, "close"), atr=_f(row, "atr"), trail_atr=band,
                             previous=stop)  # fmt: skip
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
        """Take profit at `take_profit_r` times the initial risk distance; exit when the funding
        paid so far reaches `carry.max_paid_r` of the trade's risk."""
        initial = self._get_level(trade, INITIAL_STOP_KEY)
        if initial is None:
            return None
        risk = abs(trade.open_rate - initial)
        target = self.pf.risk.take_profit_r * risk
        moved = (
            (trade.open_rate - current_rate) if trade.is_short else (current_rate - trade.open_rate)
        )
        if risk > 0 and moved >= target:
            return "take_profit_r"
        c = self.pf.risk.carry
        paid = -float(getattr(trade, "funding_fees", 0.0) or 0.0)
        risk_quote = risk / trade.open_rate * trade.stake_amount * trade.leverage
        if c.enabled and risk_quote > 0 and paid >= c.max_paid_r * risk_quote:
            return "funding_paid"
        return None
