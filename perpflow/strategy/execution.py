"""Freqtrade callbacks of the order policy (`perpflow.execution.policy`) and the slippage model.

With `perpflow.execution.enabled` (and `config.execution.json`: limit orders, position
adjustment) every entry is priced by the policy in `custom_entry_price`: patient setups rest at
the touch, others cross with a marketable limit capped by the model; a parent too large for the
book or the flow is worked as TWAP or iceberg children by `adjust_trade_position`, sized so the
whole parent's loss at the one stop is what the risk engine allowed (`custom_stake_amount` sizes
the parent and returns the first child; `confirm_trade_entry` checks the parent). Backtests have
no book: a taker fills at the model's expected price, a maker at the touch the model's spread
implies, so Freqtrade's own reports carry the cost. `confirm_trade_entry` also refuses entries
whose modelled round-trip cost eats more than `max_cost_share` of the expected edge. Take-profit
exits split the same way; the stop stays one reduce-only order (Freqtrade re-places it for the
whole position after each fill).

Mixed in before `RiskGuardMixin`/`RiskCallbacksMixin` (it calls theirs through `super()`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime, timedelta

from perpflow.execution import policy
from perpflow.risk.carry import expected_edge
from perpflow.strategy.execution_inputs import (
    ExecutionInputsMixin,
    add_model_inputs,
    block_name,
    book_depth,
    check_execution,
)
from perpflow.strategy.execution_orders import ChildOrdersMixin
from perpflow.strategy.execution_state import ParentPlan
from perpflow.strategy.failclosed import log_limited
from perpflow.strategy.risk_callbacks import log_failure

logger = logging.getLogger(__name__)
__all__ = ["ExecutionMixin", "add_model_inputs", "block_name", "book_depth", "check_execution"]


class ExecutionMixin(ChildOrdersMixin, ExecutionInputsMixin):
    """`custom_entry_price`, `custom_exit_price`, `adjust_order_price`, `check_entry_timeout`,
    `adjust_trade_position`, `order_filled` and the parent-aware stake and confirmation."""

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        """Backtests: position adjustment only while a parent or a take profit is being worked
        (Freqtrade deep-copies the trade for every `adjust_trade_position` call, each candle of
        each open trade: a quarter of the policy's backtest cost for nothing when no parent is
        split). Dry-run and live keep it on, so a restart resumes the children."""
        if self._xcfg() is not None and not self._live():
            self._toggle_adjustment()
        super().bot_loop_start(current_time=current_time, **kwargs)

    def _toggle_adjustment(self) -> None:
        if not getattr(self, "_pf_adjust_allowed", False):
            return
        from freqtrade.persistence import Trade

        plans, exits, pending = getattr(self, "_pf_plans", {}), self._exits(), self._pending()
        need = False
        for t in Trade.get_open_trades():
            key = (t.id, t.open_date_utc)
            plan = plans.get(key)
            if (
                key in exits
                or (plan is None and t.pair in pending)
                or (plan is not None and t.nr_of_successful_entries < plan.children)
            ):
                need = True
                break
        self.position_adjustment_enable = need

    # --- entries --------------------------------------------------------------------------
    def custom_entry_price(self, pair: str, trade, current_time: datetime, proposed_rate: float,
                           entry_tag: str | None, side: str, **kwargs) -> float:  # fmt: skip
        """The policy's limit price (live) or the model's expected fill (backtests)."""
        if self._xcfg() is None:
            return proposed_rate
        try:
            return self._entry_price(pair, trade, current_time, proposed_rate, entry_tag, side)
        except Exception as exc:  # noqa: BLE001 (fail closed: the stake callback refuses)
            log_failure(pair, "custom_entry_price", exc)
            self._pending().pop(pair, None)
            self._refuse_entry(pair, side, proposed_rate, entry_tag)
            return proposed_rate

    def _entry_price(self, pair, trade, now, rate, tag, side) -> float:
        order_side = "buy" if side == "long" else "sell"
        if trade is None:
            plan = self._plan_entry(pair, now, rate, tag, side)
            if plan is None:  # no risk context: the stake callback refuses; no stale plan left
                self._pending().pop(pair, None)
                return rate
            self._pending()[pair] = (now, plan)
            how, notional = plan.style, plan.parent_notional / plan.children
        else:
            plan = self._trade_plan(trade)
            how = plan.style if plan else "taker"
            notional = plan.parent_notional / plan.children if plan else trade.stake_amount
        return self._price(pair, order_side, how, notional, now, rate)

    def _price(self, pair, order_side, how, notional, now, rate) -> float:
        book, row = self._live_book(pair), self._model_row(pair)
        cost = self._cost(pair, order_side, notional, now, book, row)
        if not math.isfinite(cost.total_bps):
            log_limited(logger, pair, "no_cost", now, "slippage model has no estimate (no book, "
                        "profile or candle inputs yet); pricing at the proposed rate")  # fmt: skip
            return rate
        if book is None:  # backtests: a taker at the expected fill; a maker at the candle's
            # price (no spread earned: Freqtrade fills any price the candle touched, no queue)
            return (
                policy.expected_fill(order_side, rate, cost.total_bps) if how == "taker" else rate
            )
        bid, ask = self._touch(rate, book, cost)
        return policy.limit_price(order_side, how, bid=bid, ask=ask, cost_bps=cost.total_bps,
                                  cap_bps=self.pf.execution.taker_cap_bps)  # fmt: skip

    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None, max_stake: float,
                            leverage: float, entry_tag: str | None, side: str,
                            **kwargs) -> float:  # fmt: skip
        """The risk engine's stake for the whole parent, times the block scale; returns the first
        child's share (the children count shrinks so no child is below the minimum stake)."""
        stake = super().custom_stake_amount(pair, current_time, current_rate, proposed_stake,
                                            min_stake, max_stake, leverage, entry_tag, side,
                                            **kwargs)  # fmt: skip
        held = self._pending().get(pair) if self._xcfg() is not None else None
        if not stake or held is None:
            return stake
        try:
            return self._first_child(pair, held, stake, min_stake, leverage, current_rate,
                                     entry_tag, side)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (fail closed: no entry)
            log_failure(pair, "custom_stake_amount (children)", exc)
            return 0.0

    def _first_child(self, pair, held, stake, min_stake, leverage, rate, tag, side) -> float:
        when, plan = held
        stake *= self._block_scale(pair, when, plan.parent_notional)
        if min_stake and stake < min_stake:
            log_limited(logger, pair, "block_min_stake", when,
                        f"block-scaled stake {stake:.2f} below the minimum {min_stake:.2f}; "
                        "entry skipped")  # fmt: skip
            return 0.0
        n = plan.children
        if min_stake and n > 1 and stake / n < min_stake:
            n = max(1, int(stake // min_stake))
        ctx = self._entry_risk(pair, side, rate, tag)
        dist = ctx.stop_distance if ctx is not None else float("nan")
        if n != plan.children:
            plan = replace(
                plan,
                children=n,
                child_mode=plan.child_mode if n > 1 else "single",
                child_interval_s=plan.child_interval_s if n > 1 else 0.0,
            )
        self._pending()[pair] = (when, plan.with_stake(stake, stake * leverage * dist))
        return stake / n

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float,
                            time_in_force: str, current_time: datetime, entry_tag: str | None,
                            side: str, **kwargs) -> bool:  # fmt: skip
        """The risk gates judge the whole parent (first child x children), then the cost gate."""
        held = self._pending().get(pair) if self._xcfg() is not None else None
        n = held[1].children if held else 1
        if not super().confirm_trade_entry(pair, order_type, amount * n, rate, time_in_force,
                                           current_time, entry_tag, side, **kwargs):  # fmt: skip
            self._pending().pop(pair, None)
            return False
        if held is None:
            return True
        try:
            reason = self._cost_refusal(pair, held[1], rate, current_time, entry_tag, side)
        except Exception as exc:  # noqa: BLE001 (fail closed: no entry)
            log_failure(pair, "cost gate", exc)
            reason = "cost: the gate failed"
        if reason:
            log_limited(logger, pair, "refused:cost", current_time, f"{side} entry refused: {reason}",
                        every=timedelta(hours=1))  # fmt: skip
            self._pending().pop(pair, None)
            return False
        return True

    def _cost_refusal(self, pair, plan: ParentPlan, rate, now, tag, side) -> str | None:
        """Why the modelled round trip (entry + exit slippage + two taker fees) is too dear for
        the expected edge of the stop/target trade, or None."""
        x = self.pf.execution
        if not x.cost_gate:
            return None
        ctx = self._entry_risk(pair, side, rate, tag)
        if ctx is None or not ctx.usable:
            return "cost: no risk context"
        exit_side = "sell" if side == "long" else "buy"
        exit_cost = self._cost(pair, exit_side, plan.parent_notional / plan.children, now,
                               self._live_book(pair), self._model_row(pair))  # fmt: skip
        entry_bps = max(plan.model_bps, 0.0) if plan.style == "taker" else 0.0
        total = policy.round_trip_bps(entry_bps, exit_cost.total_bps, self._taker_fee(pair))
        c = self.pf.risk.carry
        edge = expected_edge(ctx.stop_distance, take_profit_r=self.pf.risk.take_profit_r,
                             win_rate=c.win_rate) * 1e4  # fmt: skip
        if not math.isfinite(total):
            return "cost: the slippage model has no estimate (no book, profile or candles)"
        if edge <= 0 or total > x.max_cost_share * edge:
            return (f"cost: round trip {total:.1f} bps (slippage + fees) vs expected edge "
                    f"{edge:.1f} bps (max share {x.max_cost_share:.0%})")  # fmt: skip
        return None

    def _taker_fee(self, pair: str) -> float:
        fee = self.config.get("fee")
        if fee is not None:
            return float(fee)
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        try:
            return float(exchange.get_fee(pair, taker_or_maker="taker"))
        except Exception:  # noqa: BLE001 (Binance USDT-M's base taker fee)
            return 0.0005
