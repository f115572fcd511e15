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
from pathlib import Path

import pandas as pd
from freqtrade.exceptions import OperationalException

from perpflow.errors import UserError
from perpflow.execution import policy
from perpflow.execution.blocks import block_scales
from perpflow.execution.calibrate import model_inputs
from perpflow.execution.slippage import Cost, SlippageModel
from perpflow.features.sessions import SESSION_NAMES, ny_session_block
from perpflow.risk.carry import expected_edge
from perpflow.risk.liquidity import sqrt_impact_bps
from perpflow.strategy.execution_state import ParentPlan, plan_from_trade, plan_items
from perpflow.strategy.failclosed import log_limited
from perpflow.strategy.risk_callbacks import log_failure

logger = logging.getLogger(__name__)
MODEL_COLUMNS = ("ex_sigma_bps_1s", "ex_range_bps", "ex_quote_volume")
BLOCK_COLUMN = "ex_block"  # the session block name the model inputs were taken for
EXIT_KEY = "pf_exit_split"  # "children|child stake|start epoch s" of a take-profit being worked


def block_name(now: datetime) -> str:
    """The New York session block name of `now` ('other' outside the blocks)."""
    return SESSION_NAMES[int(ny_session_block(pd.Series([pd.Timestamp(now)])).iloc[0])]


def book_depth(book: dict, order_side: str, band_bps: float) -> float:
    """Quote notional within `band_bps` of mid on the side a `order_side` order takes."""
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if not bids or not asks:
        return float("nan")
    mid = (float(bids[0][0]) + float(asks[0][0])) / 2
    levels = asks if order_side == "buy" else bids
    lim = mid * (1 + band_bps / 1e4) if order_side == "buy" else mid * (1 - band_bps / 1e4)
    inside = [(float(p), float(q)) for p, q, *_ in levels
              if (float(p) <= lim if order_side == "buy" else float(p) >= lim)]  # fmt: skip
    return sum(p * q for p, q in inside)


def add_model_inputs(df: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """`df` with the slippage model's causal per-candle inputs (`MODEL_COLUMNS`) added."""
    inputs = model_inputs(df, timeframe)
    return df.assign(**{c: inputs[c].to_numpy() for c in MODEL_COLUMNS},
                     **{BLOCK_COLUMN: inputs["session_block"].to_numpy()})  # fmt: skip


def check_execution(strategy) -> None:
    """With the policy on: limit entries and exits, position adjustment, and a model file that
    loads; else stop start-up naming what to set (a market order would skip the policy)."""
    x = strategy.pf.execution
    if not x.enabled:
        return
    types = strategy.order_types
    wrong = [k for k in ("entry", "exit") if types.get(k) != "limit"]
    if wrong or not strategy.position_adjustment_enable:
        raise OperationalException(
            "perpflow.execution.enabled needs limit entry/exit orders and position adjustment "
            f"(order_types {', '.join(wrong) or 'ok'}, position_adjustment_enable "
            f"{strategy.position_adjustment_enable}): add -c config.execution.json")  # fmt: skip
    try:
        model = strategy.slippage_model()
    except UserError as exc:
        raise OperationalException(f"perpflow.execution.model_path: {exc}") from exc
    source = (f"{strategy.pf.execution.model_path} ({len(model.profiles)} pair/block profiles, "
              f"{model.exchange or 'no exchange'})" if strategy.pf.execution.model_path else
              "none (live book, else the candle proxy)")  # fmt: skip
    logger.info("perpflow execution: policy on; slippage model %s", source)


class ExecutionMixin:
    """`custom_entry_price`, `custom_exit_price`, `adjust_order_price`, `check_entry_timeout`,
    `adjust_trade_position`, `order_filled` and the parent-aware stake and confirmation."""

    # --- inputs ---------------------------------------------------------------------------
    def _xcfg(self):
        cfg = self.pf.execution
        return cfg if cfg.enabled else None

    def slippage_model(self) -> SlippageModel:
        """The calibrated model of `execution.model_path` (loaded once), else the empty model."""
        model = getattr(self, "_pf_slippage", None)
        if model is None:
            path = self.pf.execution.model_path
            model = SlippageModel.load(self._model_file(path)) if path else SlippageModel.empty()
            self._pf_slippage = model
        return model

    def _model_file(self, path: str) -> Path:
        p = Path(path)
        if p.is_absolute() or p.exists():
            return p
        base = self.config.get("user_data_dir")
        return Path(base) / p if base and (Path(base) / p).exists() else p

    def _model_row(self, pair: str) -> dict:
        row = self._last_row(pair, MODEL_COLUMNS) or {}
        return {k: float(row.get(k, float("nan"))) for k in MODEL_COLUMNS}

    def _live_book(self, pair: str) -> dict | None:
        """The live order book (dry-run/live), None in backtests or when it cannot be read."""
        if not self._live():
            return None
        try:
            book = self.dp.orderbook(pair, 50)
        except Exception as exc:  # noqa: BLE001 (the profile or candle proxy stands in)
            logger.warning("%s: order book unavailable for the slippage model (%s)", pair, exc)
            return None
        return book if book and book.get("bids") and book.get("asks") else None

    def _cost(self, pair: str, order_side: str, notional: float, now: datetime,
              book: dict | None, row: dict) -> Cost:  # fmt: skip
        return self.slippage_model().cost(
            pair, block_name(now), order_side, notional, book=book,
            sigma_bps_1s=row["ex_sigma_bps_1s"], latency_s=self.pf.execution.latency_s,
            candle_range_bps=row["ex_range_bps"], candle_quote_volume=row["ex_quote_volume"],
        )  # fmt: skip

    def _touch(self, ref: float, book: dict | None, cost: Cost) -> tuple[float, float]:
        """(bid, ask): the book's, else `ref` -/+ the model's half spread."""
        if book:
            return float(book["bids"][0][0]), float(book["asks"][0][0])
        half = cost.half_spread_bps if math.isfinite(cost.half_spread_bps) else 0.0
        return ref * (1 - half / 1e4), ref * (1 + half / 1e4)

    def _split(self, pair: str, notional: float, how: str, order_side: str, now: datetime,
               book: dict | None, row: dict) -> policy.ChildPlan:  # fmt: skip
        c = self.pf.execution.children
        depth = (book_depth(book, order_side, c.depth_bps) if book else
                 self.slippage_model().depth_notional(pair, block_name(now), order_side,
                                                      c.depth_bps))  # fmt: skip
        minutes = pd.Timedelta(self.timeframe).total_seconds() / 60
        return policy.plan_children(notional, how, depth=depth,
                                    volume_per_min=row["ex_quote_volume"] / minutes,
                                    cfg=self.pf.execution)  # fmt: skip

    # --- the parent plan ------------------------------------------------------------------
    def _pending(self) -> dict:
        pending = getattr(self, "_pf_pending", None)
        if pending is None:
            pending = self._pf_pending = {}
        return pending

    def _plan_entry(self, pair: str, now: datetime, rate: float, tag: str | None,
                    side: str) -> ParentPlan | None:  # fmt: skip
        """Decide the entry's style, split and modelled cost (None without a risk context)."""
        ctx = self._entry_risk(pair, side, rate, tag)
        if ctx is None or not ctx.usable:
            return None
        equity = self.wallets.get_total_stake_amount() if self.wallets else 0.0
        notional = (equity * ctx.risk_fraction * ctx.size_scale * self._risk_scale()
                    / ctx.stop_distance)  # fmt: skip
        notional *= self._block_scale(pair, now, notional)
        order_side = "buy" if side == "long" else "sell"
        book, row = self._live_book(pair), self._model_row(pair)
        how = policy.style(tag, self.pf.execution)
        split = self._split(pair, notional, how, order_side, now, book, row)
        cost = self._cost(pair, order_side, notional / split.children, now, book, row)
        bid, ask = self._touch(rate, book, cost)
        decision = (bid + ask) / 2 if book else rate
        model = -cost.half_spread_bps if how == "maker" else cost.total_bps
        # children fill over the window: the band widens by the drift over that span
        span = self.pf.execution.latency_s + (split.children - 1) * split.interval_s
        drift = policy.window_drift_bps(row["ex_sigma_bps_1s"], span)
        return ParentPlan(
            style=how, children=split.children, child_mode=split.mode,
            child_interval_s=split.interval_s, decision_price=decision, model_bps=model,
            model_band_lo=min(cost.band_bps[0], model) - drift,
            model_band_hi=cost.band_bps[1] + drift, model_source=cost.source,
            parent_notional=notional, planned_stop=ctx.stop,
        )  # fmt: skip

    def _trade_plan(self, trade) -> ParentPlan | None:
        """The trade's plan: cached, stored on the trade, or the pair's pending one (written to
        the trade now)."""
        cache = getattr(self, "_pf_plans", None)
        if cache is None:
            cache = self._pf_plans = {}
        key = (trade.id, trade.open_date_utc)
        if key in cache:
            return cache[key]
        plan = plan_from_trade(trade) if self._live() else None
        if plan is None:
            held = self._pending().pop(trade.pair, None)
            plan = held[1] if held else None
            if plan is not None and self._live():
                for k, v in plan_items(plan).items():
                    trade.set_custom_data(k, v)
        cache[key] = plan
        return plan

    def _block_scale(self, pair: str, now: datetime, notional: float = 1e4) -> float:
        """The session block's size scale (`execution.block_sizing`, 1.0 when off): clip(cheapest
        block's cost / this block's, floor, 1) for `notional`, each block's candle-proxy cost
        taken from its latest analysed row (causal: the analysed frame ends at the candle)."""
        x = self.pf.execution
        if not x.block_sizing:
            return 1.0
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if df is None or df.empty or BLOCK_COLUMN not in df.columns:
            return x.block_floor  # unknown costs: the smallest size (fail closed)
        last = df.groupby(BLOCK_COLUMN, sort=False)[["ex_range_bps", "ex_quote_volume"]].last()
        costs = sqrt_impact_bps(last["ex_range_bps"], last["ex_quote_volume"], notional)
        scales = block_scales(costs.rename("cost_bps").to_frame(), x.block_floor)
        return scales.get(block_name(now), x.block_floor)

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
            if plan is None:
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
            if plan is None or trade.has_open_orders:
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
                                   plan=plan.child, risk_left=min(plan.parent_risk, budget) - at_risk,
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

    def _exit_child(self, trade, split, now: datetime):
        n, stake, start = split
        sent = sum(1 for o in trade.orders
                   if o.ft_order_side == trade.exit_side and o.status == "closed")  # fmt: skip
        due = start + self._interval(n) * sent
        if now.timestamp() < due or trade.stake_amount <= stake * 1.01:
            return None  # the last child goes through custom_exit (a full exit)
        return -stake, "take_profit_r child"

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
            return "take_profit_r" if trade.stake_amount <= split[1] * 1.01 else None
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
