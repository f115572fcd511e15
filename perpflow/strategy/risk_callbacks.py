"""Freqtrade callbacks that apply perpflow's risk rules (mixed into strategy classes).

Callbacks keep Freqtrade's signatures, read only the last analysed row, and call the pure
functions of `perpflow.risk`. The entry callbacks (`leverage`, `custom_stake_amount`,
`confirm_trade_entry`) share one `EntryRisk` per pair, candle, side, tag and rate
(`_entry_risk`), and fail closed: an error or a missing context means no entry, logged with the
pair (Freqtrade would otherwise fall back to leverage 1, the proposed stake, or a confirmed
entry). Stop levels live on the trade (`set_custom_data`) so a restart keeps them. A class using
this mixin must set `self.pf` (a `PerpflowConfig`) in `bot_start`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import datetime

import pandas as pd
from freqtrade.enums import RunMode
from freqtrade.persistence import Trade
from freqtrade.strategy import stoploss_from_absolute

from perpflow.config import PerpflowConfig
from perpflow.features.sessions import SESSION_NAMES
from perpflow.risk.entry import ENTRY_FIELDS, EntryRisk, entry_risk
from perpflow.risk.entry import row_float as _f
from perpflow.risk.sizing import clamp_stake, risk_stake
from perpflow.risk.stops import session_trail_atr, trail_stop
from perpflow.strategy.analysed_rows import rows_for
from perpflow.strategy.failclosed import log_limited

logger = logging.getLogger(__name__)

BACKTEST_MODES = (RunMode.BACKTEST, RunMode.HYPEROPT)
ROW_FIELDS = ("date", *ENTRY_FIELDS)  # what the entry risk context reads
TRAIL_FIELDS = ("close", "atr", "session_block")  # what the per-candle trail reads
STOP_KEY = "pf_stop"
INITIAL_STOP_KEY = "pf_initial_stop"
_TRACED: set[tuple[str, str]] = set()  # (pair, callback) whose failure traceback was logged


def log_failure(pair: str, what: str, exc: BaseException) -> None:
    """An entry callback's error, refused fail-closed: logged at ERROR naming the pair, with the
    traceback the first time per pair and callback (a bug, not a market condition)."""
    first = (pair, what) not in _TRACED
    _TRACED.add((pair, what))
    logger.error("%s: %s failed (%s: %s); entry refused", pair, what, type(exc).__name__, exc,
                 exc_info=exc if first else None)  # fmt: skip


def _row(df: pd.DataFrame, fields: tuple[str, ...]) -> dict:
    """`fields` of the frame's last row (column lookups by position: taking a whole row of a
    wide frame costs more than the callback; per-candle callers ask only for what they use)."""
    cols = df.columns
    return {c: df.iat[-1, cols.get_loc(c)] for c in fields if c in cols}


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
        """`fields` of the last analysed row, None when there is none. Backtests read it from
        the DataProvider's frame and slice index (`analysed_rows`), live from its frame."""
        held = getattr(self, "_pf_rows", None)
        if held is None or held[0] is not self.dp:
            held = self._pf_rows = (self.dp, rows_for(self.dp, self.timeframe))
        if held[1] is not None:
            return held[1].row(pair, fields)
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if df is None or df.empty:
            return None
        return _row(df, fields)

    def _stops(self) -> dict:
        """Per-trade stop cache: (trade id, open date) -> {key: level}. The trade's custom data
        stays the record (it survives restarts); the cache spares Freqtrade's custom-data lookup,
        which scans every stored value in backtests."""
        cache = getattr(self, "_pf_stop_cache", None)
        if cache is None:
            cache = self._pf_stop_cache = {}
        return cache

    def _get_level(self, trade: Trade, key: str) -> float | None:
        """The cached level, else the trade's custom data (dry-run/live: after a restart).
        Backtests skip that lookup (a scan of every stored value): their custom data lasts one
        run (Freqtrade empties it) and holds only what `_set_level` cached first."""
        slot = self._stops().setdefault((trade.id, trade.open_date_utc), {})
        if key not in slot:
            backtest = self.config.get("runmode") in BACKTEST_MODES
            value = None if backtest else trade.get_custom_data(key)
            slot[key] = None if value is None else float(value)
        return slot[key]

    def _set_level(self, trade: Trade, key: str, value: float) -> None:
        """Cache the level; persist it on the trade in dry-run/live (a restart reads it back).
        Backtests keep it in the cache only: nothing reads a backtest trade's custom data (not
        `_get_level`, not Freqtrade's results), and each write there scans every stored value."""
        self._stops().setdefault((trade.id, trade.open_date_utc), {})[key] = float(value)
        if self.config.get("runmode") not in BACKTEST_MODES:
            trade.set_custom_data(key, float(value))

    def _entry_risk(self, pair: str, side: str, rate: float, tag: str | None) -> EntryRisk | None:
        """The shared risk context of an entry at `rate` on the last analysed candle: built once
        per pair, candle, side, tag and rate (the pair's previous candle is dropped) and returned
        to every later caller. None when there is no analysed row or building it failed (logged;
        the failure stands for the candle): every entry callback then refuses."""
        try:
            held = self._entry_slot(pair)
            if held is None:
                return None
            _, slot, row = held
            key = (side, tag, rate)
            if key not in slot:
                slot[key] = None  # a failure below stays a refusal for this candle
                slot[key] = self._build_entry_risk(pair, row, side, rate, tag)
            return slot[key]
        except Exception as exc:  # noqa: BLE001 (fail closed: no context, no entry)
            log_failure(pair, "risk context", exc)
            return None

    def _entry_slot(self, pair: str) -> tuple | None:
        """(candle date, {(side, tag, rate): context}, row) of the pair's last analysed candle,
        None without one. Only the last candle per pair is kept; the whole cache is dropped when
        `self.pf.risk` changes (a hyperopt epoch)."""
        row = self._last_row(pair, ROW_FIELDS)
        if row is None:
            return None
        date = row.get("date")
        cache = getattr(self, "_pf_entry_risk", None)
        if cache is None or cache[0] is not self.pf.risk:
            cache = self._pf_entry_risk = (self.pf.risk, {})
        held = cache[1].get(pair)
        if held is None or held[0] != date:
            held = cache[1][pair] = (date, {}, row)
        return held

    def _build_entry_risk(self, pair: str, row: dict, side: str, rate: float,
                          tag: str | None) -> EntryRisk:  # fmt: skip
        """`entry_risk` of the signal row with the exchange's facts for the pair."""
        r = self.pf.risk
        return entry_risk(
            row, r, side=side, rate=rate, tag=tag, tick=self._tick(pair),
            maintenance_margin_rate=self._mmr(pair, r.maintenance_margin_rate),
            leverage_step=self._leverage_step(),
            exchange_liquidation_buffer=float(self.config.get("liquidation_buffer", 0.05)),
        )  # fmt: skip

    def _refuse_entry(self, pair: str, side: str, rate: float, tag: str | None) -> None:
        """Mark this candle's entry context missing, so the later callbacks refuse it too."""
        with contextlib.suppress(Exception):  # the failure that called this is logged already
            held = self._entry_slot(pair)
            if held is not None:
                held[1][(side, tag, rate)] = None

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
        liquidation-beyond-stop cap. Freqtrade takes 1.0 as the least it can be: on a missing
        context or an error this returns 1.0 and the stake callback refuses the entry."""
        try:
            ctx = self._entry_risk(pair, side, current_rate, entry_tag)
            if ctx is None:
                return 1.0  # custom_stake_amount refuses the same missing context
            return ctx.leverage(scale=self._risk_scale(), exchange_max=max_leverage)
        except Exception as exc:  # noqa: BLE001 (fail closed: refuse the entry)
            log_failure(pair, "leverage", exc)
            self._refuse_entry(pair, side, current_rate, entry_tag)
            return 1.0

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
        budget left before the hard drawdown cap. 0 = no entry, logged: also on a missing
        context and on any error (Freqtrade would fall back to the proposed stake)."""
        try:
            return self._risk_stake(pair, current_time, current_rate, proposed_stake, min_stake,
                                    max_stake, leverage, entry_tag, side,
                                    float(kwargs.get("fee", 0.0) or 0.0))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (fail closed: no entry)
            log_failure(pair, "custom_stake_amount", exc)
            return 0.0

    def _risk_stake(self, pair: str, now: datetime, rate: float, proposed_stake: float,
                    min_stake: float | None, max_stake: float, leverage: float, tag: str | None,
                    side: str, fee: float) -> float:  # fmt: skip
        """`custom_stake_amount` without the guard."""
        ctx = self._entry_risk(pair, side, rate, tag)
        if ctx is None:
            log_limited(logger, pair, "no_context", now, "no risk context; entry skipped")
            return 0.0
        if not ctx.usable:
            log_limited(logger, pair, "no_stop", now, "no usable stop; entry skipped")
            return 0.0
        equity = self.wallets.get_total_stake_amount() if self.wallets else proposed_stake
        stake = ctx.stake(equity, leverage=leverage, fee=fee, scale=self._risk_scale())
        stake = self._fit_budget(pair, now, stake, ctx.stop_distance, leverage, fee)
        clamped = clamp_stake(stake, min_stake=min_stake, max_stake=max_stake)
        if clamped == 0.0 and stake > 0:
            log_limited(
                logger, pair, "min_stake", now,
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
        ctx = self._entry_risk(pair, side, trade.open_rate, trade.enter_tag)
        stop = ctx.stop if ctx is not None else float("nan")
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
