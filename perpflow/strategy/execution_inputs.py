"""The execution policy's inputs in the strategy: the slippage model, the book, the model's
per-candle inputs, the session block's size scale, and the parent plan of an entry (decided in
`custom_entry_price`, kept per pair until its trade exists). Part of `ExecutionMixin`
(`perpflow.strategy.execution`)."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from pathlib import Path

import pandas as pd
from freqtrade.exceptions import OperationalException

from perpflow.errors import UserError
from perpflow.execution import policy
from perpflow.execution.blocks import block_scales
from perpflow.execution.calibrate import model_inputs
from perpflow.execution.slippage import Cost, SlippageModel
from perpflow.features.sessions import session_name_at
from perpflow.risk.liquidity import sqrt_impact_bps
from perpflow.strategy.execution_state import ParentPlan, plan_from_trade, plan_items

logger = logging.getLogger(__name__)
MODEL_COLUMNS = ("ex_sigma_bps_1s", "ex_range_bps", "ex_quote_volume")
BLOCK_COLUMN = "ex_block"  # the session block name the model inputs were taken for


def block_name(now: datetime) -> str:
    """The New York session block name of `now` ('other' outside the blocks)."""
    return session_name_at(now)


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
            f"{strategy.position_adjustment_enable}): add -c config.execution.json (freqtrade "
            "lookahead-analysis forces market orders unless the config sets "
            "\"lookahead_allow_limit_orders\": true)")  # fmt: skip
    strategy._pf_adjust_allowed = True  # backtests switch it off while no parent is worked
    try:
        model = strategy.slippage_model()
    except UserError as exc:
        raise OperationalException(f"perpflow.execution.model_path: {exc}") from exc
    source = (f"{strategy.pf.execution.model_path} ({len(model.profiles)} pair/block profiles, "
              f"{model.exchange or 'no exchange'})" if strategy.pf.execution.model_path else
              "none (live book, else the candle proxy)")  # fmt: skip
    logger.info("perpflow execution: policy on; slippage model %s", source)


class ExecutionInputsMixin:
    """Model, book, block scale and the parent plan (no Freqtrade callback of its own)."""

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
