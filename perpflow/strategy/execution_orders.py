"""The execution policy's order callbacks after the entry: children (`adjust_trade_position`),
take profits worked in children (`custom_exit`, `custom_exit_price`) and resting orders
(`check_entry_timeout`, `adjust_order_price`), plus `order_filled`. Part of `ExecutionMixin`
(`perpflow.strategy.execution`)."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import pandas as pd
from freqtrade.constants import CANCEL_REASON

from perpflow.execution import policy
from perpflow.strategy.execution_state import ParentPlan
from perpflow.strategy.failclosed import log_limited
from perpflow.strategy.risk_callbacks import log_failure

logger = logging.getLogger(__name__)
EXIT_KEY = "pf_exit_split"  # "children|child stake|start epoch s" of a take-profit being worked


class ChildOrdersMixin:
    """Children, take-profit children and resting orders."""

    # --- children -------------------------------------------------------------------------
    def adjust_trade_position(self, trade, current_time: datetime, current_rate: float,
                              current_profit: float, min_stake: float | None, max_stake: float,
                              current_entry_rate: float, current_exit_rate: float,
                              current_entry_profit: float, current_exit_profit: float,
                              **kwargs):  # fmt: skip
        """The next entry child when one is due, or the next take-profit child (negative)."""
        if self._xcfg() is None:
            return None
        try:
            plan = self._trade_plan(trade)
            if plan is None or trade.has_open_orders or _force_exit_asked(trade):
                return None
            split = self._exit_split(trade)
            if split is not None:
                return self._exit_child(trade, split, current_time)
            return self._entry_child(trade, plan, current_time, current_entry_rate, min_stake,
                                     max_stake)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (fail closed: no further child)
            log_failure(trade.pair, "adjust_trade_position", exc)
            return None

    def _entry_child(self, trade, plan: ParentPlan, now: datetime, rate: float,
                     min_stake: float | None, max_stake: float):  # fmt: skip
        done = trade.nr_of_successful_entries
        if plan.children <= 1 or done >= plan.children or done == 0:
            return None
        if not (math.isfinite(plan.parent_stake) and math.isfinite(plan.parent_risk)):
            return None  # not sized by the risk engine (a stake given by hand): no children
        if plan.child_mode == "twap":
            due = trade.open_date_utc + timedelta(seconds=plan.child_interval_s * done)
            if now < due:
                return None
        budget, why = self._risk_budget()
        if why:
            log_limited(logger, trade.pair, "child_budget", now, f"children stopped: {why}")
            return None
        stop = self._stored_stop(trade.pair, trade)
        at_risk = trade.amount * abs(trade.open_rate - stop)
        per_stake = trade.leverage * abs(rate - stop) / rate
        beyond = (rate <= stop) if not trade.is_short else (rate >= stop)
        if beyond:
            return None
        stake = policy.child_stake(parent_stake=plan.parent_stake, filled_stake=trade.stake_amount,
                                   plan=plan.child, risk_left=min(plan.parent_risk - at_risk, budget),
                                   loss_per_stake=per_stake)  # fmt: skip
        stake = min(stake, max_stake)
        if stake <= 0 or (min_stake and stake < min_stake):
            return None
        return stake, f"child {done + 1}/{plan.children}"

    def _exit_split(self, trade) -> tuple[int, float, float] | None:
        """(children, child stake, start epoch s) of a take-profit being worked, or None."""
        raw = self._exits().get((trade.id, trade.open_date_utc))
        if raw is None and self._live():
            raw = trade.get_custom_data(EXIT_KEY)
        if not raw:
            return None
        n, stake, start = str(raw).split("|")
        return int(n), float(stake), float(start)

    def _exits(self) -> dict:
        cache = getattr(self, "_pf_exits", None)
        if cache is None:
            cache = self._pf_exits = {}
        return cache

    def _exit_due(self, trade, split, now: datetime) -> tuple[bool, bool]:
        """(the next take-profit child is due, it is the last one). The last is whatever is left
        below one and a half children (amounts round down to the exchange's step)."""
        n, stake, start = split
        sent = sum(1 for o in trade.orders
                   if o.ft_order_side == trade.exit_side and o.status == "closed")  # fmt: skip
        due = now.timestamp() >= start + self._interval(n) * sent
        return due, trade.stake_amount < 1.5 * stake

    def _exit_child(self, trade, split, now: datetime):
        due, last = self._exit_due(trade, split, now)
        if not due or last:
            return None  # the last child goes through custom_exit (a full exit)
        return -split[1], "take_profit_r child"

    def _interval(self, n: int) -> float:
        return self.pf.execution.children.window_minutes * 60.0 / max(n, 1)

    def custom_exit(self, pair: str, trade, current_time: datetime, current_rate: float,
                    current_profit: float, **kwargs):  # fmt: skip
        """The take profit, worked in children when the position is large for the book."""
        reason = super().custom_exit(pair, trade, current_time, current_rate, current_profit,
                                     **kwargs)  # fmt: skip
        if self._xcfg() is None:
            return reason
        split = self._exit_split(trade)
        if split is not None:  # a decided exit keeps going; the last child exits in full
            due, last = self._exit_due(trade, split, current_time)
            return "take_profit_r" if due and last else None
        if reason != "take_profit_r":
            return reason
        try:
            return self._start_exit(pair, trade, current_time, current_rate, reason)
        except Exception as exc:  # noqa: BLE001 (exit in one order, as without the policy)
            log_failure(pair, "exit split", exc)
            return reason

    def _start_exit(self, pair, trade, now, rate, reason):
        side = "sell" if not trade.is_short else "buy"
        plan = self._split(pair, trade.amount * rate, "taker", side, now, self._live_book(pair),
                           self._model_row(pair))  # fmt: skip
        if plan.children <= 1:
            return reason
        raw = f"{plan.children}|{trade.stake_amount / plan.children}|{now.timestamp()}"
        self._exits()[(trade.id, trade.open_date_utc)] = raw
        if self._live():
            trade.set_custom_data(EXIT_KEY, raw)
        logger.info("%s: take profit worked in %d children (%s)", pair, plan.children, plan.reason)
        return None

    def custom_exit_price(self, pair: str, trade, current_time: datetime, proposed_rate: float,
                          current_profit: float, exit_tag: str | None, **kwargs) -> float:  # fmt: skip
        """The policy's taker price for exits (live) or the model's expected fill (backtests)."""
        if self._xcfg() is None:
            return proposed_rate
        try:
            side = "sell" if not trade.is_short else "buy"
            if self._live() and trade.get_custom_data("pf_exit_decision_price") is None:
                trade.set_custom_data("pf_exit_decision_price", float(proposed_rate))
            split = self._exit_split(trade)
            notional = (split[1] if split else trade.stake_amount) * trade.leverage
            return self._price(pair, side, "taker", notional, current_time, proposed_rate)
        except Exception as exc:  # noqa: BLE001 (an exit must still go out)
            log_failure(pair, "custom_exit_price", exc)
            return proposed_rate

    # --- resting orders -------------------------------------------------------------------
    def check_entry_timeout(self, pair: str, trade, order, current_time: datetime,
                            **kwargs) -> bool:  # fmt: skip
        """Cancel a taker's unfilled remainder after `taker_timeout_s`; makers (and their
        iceberg slices) wait for `adjust_order_price` at the next candles."""
        x = self._xcfg()
        if x is None:
            return False
        plan = self._trade_plan(trade)
        if plan is not None and plan.style == "maker":
            return False
        age = (current_time - order.order_date_utc).total_seconds()
        return age >= x.taker_timeout_s

    def adjust_order_price(self, trade, order, pair: str, current_time: datetime,
                           proposed_rate: float, current_order_rate: float,
                           entry_tag: str | None, side: str, is_entry: bool,
                           **kwargs) -> float | None:  # fmt: skip
        """Each new candle: a resting maker entry waits `rest_candles`, then crosses (or is
        cancelled, `on_timeout`), and is cancelled once price is beyond its stop; exits and
        taker remainders keep their price (the timeout handles them)."""
        x = self._xcfg()
        if x is None or not is_entry:
            return current_order_rate
        plan = self._trade_plan(trade)
        if plan is None or plan.style != "maker":
            return current_order_rate
        long = side == "long"
        if (proposed_rate <= plan.planned_stop) if long else (proposed_rate >= plan.planned_stop):
            logger.info("%s: price %.6g went through the planned stop %.6g of a resting %s "
                        "entry; cancelled", pair, proposed_rate, plan.planned_stop, side)  # fmt: skip
            return None
        candles = (current_time - order.order_date_utc) / pd.Timedelta(self.timeframe)
        if candles < x.rest_candles:
            return current_order_rate
        if x.on_timeout == "cancel":
            logger.info("%s: resting %s entry unfilled after %d candles; cancelled", pair, side,
                        x.rest_candles)  # fmt: skip
            return None
        notional = plan.parent_notional / plan.children
        return self._price(pair, "buy" if long else "sell", "taker", notional, current_time,
                           proposed_rate)  # fmt: skip

    def order_filled(self, pair: str, trade, order, current_time: datetime, **kwargs) -> None:
        """Attach the pending plan to the trade at its first fill (before the next child)."""
        if self._xcfg() is not None:
            self._trade_plan(trade)
        parent = getattr(super(), "order_filled", None)
        if parent is not None:
            parent(pair, trade, order, current_time, **kwargs)


def _force_exit_asked(trade) -> bool:
    """True once an order of `trade` was cancelled by a force exit (`/forceexit` cancels a
    resting child first and only exits on the next request): the parent is no longer worked,
    so that next request finds no new child to cancel again."""
    return any(o.ft_cancel_reason == CANCEL_REASON["FORCE_EXIT"] for o in trade.orders)
