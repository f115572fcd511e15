"""Risk guard callbacks: the drawdown governor, exchange health, and the entry gates of
`confirm_trade_entry` (governor, funding carry, macro blackout, session, order book, Freqtrade's
own liquidation price). Every state change and refusal is logged with its reason and sent through
`dp.send_msg` (Telegram/webhooks in dry-run and live; needs `allow_custom_messages`).

Mixed into a strategy next to `RiskCallbacksMixin`, whose `_entry_risk` gives the gates the same
stop and caps the stake and leverage callbacks used; reads `self.pf` (set in `bot_start`).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

from perpflow.features.sessions import session_name_at
from perpflow.risk.carry import carry_allows
from perpflow.risk.entry import EntryRisk
from perpflow.risk.governor import LOCK_REASON
from perpflow.risk.monitor import book_allows, spread_bps
from perpflow.strategy.exchange_watch import HEALTH_LOCK, ORPHAN_LOCK, ExchangeWatchMixin
from perpflow.strategy.failclosed import log_limited
from perpflow.strategy.governor_guard import GovernorMixin
from perpflow.strategy.risk_callbacks import log_failure

logger = logging.getLogger(__name__)
GOVERNOR_LOCK = LOCK_REASON  # every governor lock's reason starts with this
__all__ = ["GOVERNOR_LOCK", "HEALTH_LOCK", "ORPHAN_LOCK", "RiskGuardMixin"]


class RiskGuardMixin(ExchangeWatchMixin, GovernorMixin):
    """`bot_loop_start` (governor, exchange watch) and `confirm_trade_entry` (entry gates)."""

    def _alert(self, message: str) -> None:
        logger.warning(message)
        if self.dp is not None:
            self.dp.send_msg(f"perpflow: {message}", always_send=True)

    def risk_settings(self) -> str:
        """One line with the limits in force (sent once when a dry-run/live bot starts)."""
        r, g = self.pf.risk, self.pf.risk.governor
        gov = (f"governor soft {g.soft_drawdown:.0%} / hard cap {g.hard_drawdown:.0%} from the "
               "running peak (re-armed only by an operator)" if g.enabled else "governor OFF")  # fmt: skip
        ev = self.pf.evidence
        return (f"risk settings: {r.risk_per_trade:.2%} of equity per trade, leverage "
                f"{r.min_leverage:g}-{r.max_leverage:g}x by conviction, {gov}, funding carry "
                f"{'on' if r.carry.enabled else 'OFF'}; evidence: {ev.status} ({ev.note})")  # fmt: skip

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        """Feed the governor (and, live, the exchange watch) once per loop/candle."""
        if self._live() and not getattr(self, "_pf_announced", False):
            self._pf_announced = True
            self._alert(self.risk_settings())
        if self.pf.risk.governor.enabled:
            self._govern(current_time)
        if self._live():
            self._check_health(current_time)
            lost = self._check_rejects(current_time)
            self._check_positions(current_time, force=lost)

    # --- entry gates ---------------------------------------------------------------------
    def confirm_trade_entry(
        self, pair: str, order_type: str, amount: float, rate: float, time_in_force: str,
        current_time: datetime, entry_tag: str | None, side: str, **kwargs,
    ) -> bool:  # fmt: skip
        """Last checks before an order goes out; each refusal is logged with its reason, and an
        error refuses too (Freqtrade would confirm the entry)."""
        try:
            reason = self.entry_refusal(pair, amount, rate, current_time, entry_tag, side)
        except Exception as exc:  # noqa: BLE001 (fail closed: no entry)
            log_failure(pair, "confirm_trade_entry", exc)
            return False
        if reason is None:
            return True
        log_limited(logger, pair, f"refused:{reason.split(':')[0]}", current_time,
                    f"{side} entry refused: {reason}", every=timedelta(hours=1))  # fmt: skip
        if self._live():
            self._alert(f"{pair} {side} entry refused: {reason}")
        return False

    def entry_refusal(self, pair: str, amount: float, rate: float, now: datetime,
                      tag: str | None, side: str) -> str | None:  # fmt: skip
        """Why an entry must not happen now, or None."""
        if self._live():
            watch = self.watch_refusal(pair, now)
            if watch:
                return watch
        budget, why = self._risk_budget()
        if why:
            return why
        ctx = self._entry_risk(pair, side, rate, tag)  # the stake's and leverage's context
        if ctx is None:
            return "risk: no risk context (no analysed candle, or computing it failed)"
        if not ctx.usable:
            return "risk: no usable stop"
        risk = amount * abs(rate - ctx.stop)  # fees aside; 2% slack for rounding and price moves
        if risk > budget * 1.02:
            return (f"governor: planned risk {risk:,.2f} exceeds the {budget:,.2f} left before the "
                    f"{self.pf.risk.governor.hard_drawdown:.0%} cap")  # fmt: skip
        for check in (self._macro_session_gate, self._carry_gate, self._liquidation_gate,
                      self._book_gate):  # fmt: skip
            reason = check(pair, amount, rate, now, tag, side, ctx)
            if reason:
                return reason
        return None

    def _macro_session_gate(self, pair, amount, rate, now, tag, side, ctx: EntryRisk) -> str | None:
        if ctx.macro_blackout:
            return "macro: blackout around a scheduled release"
        s = self.pf.filters.sessions
        if s.enabled and tag and not tag.startswith("liq_reversal"):
            # `ny_session_block` of one time, without a pandas round trip (~3 ms an entry); a
            # naive time is UTC, as pandas reads it
            when = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            if session_name_at(when) not in s.blocks:
                return "session: outside the allowed New York blocks"
        return None

    def _carry_gate(self, pair, amount, rate, now, tag, side, ctx: EntryRisk) -> str | None:
        c = self.pf.risk.carry
        if not c.enabled:
            return None
        if not self.pf.filters.funding.enabled and not math.isfinite(ctx.funding_rate):
            return None  # funding deliberately off: nothing to judge the carry by
        ok, cost, edge = carry_allows(
            side, rate=ctx.funding_rate, interval_hours=ctx.funding_interval_h,
            holding_hours=c.holding_hours, stop_distance=ctx.stop_distance,
            take_profit_r=self.pf.risk.take_profit_r, win_rate=c.win_rate, max_share=c.max_share,
        )  # fmt: skip
        if ok:
            return None
        if not math.isfinite(cost):
            return "carry: funding rate or interval unknown"
        return f"carry: funding {cost:.4%} over {c.holding_hours:g} h vs edge {edge:.4%}"

    def _liquidation_gate(self, pair, amount, rate, now, tag, side, ctx: EntryRisk) -> str | None:
        """Freqtrade's own liquidation price for this order must lie beyond the stop by the
        buffer (the exchange's formula and maintenance tiers, not perpflow's approximation)."""
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        if exchange is None or not amount > 0:
            return None
        stop = ctx.stop
        lev = ctx.leverage(scale=self._risk_scale(), exchange_max=self.pf.risk.max_leverage)
        stake = amount * rate / lev
        try:
            liq = exchange.get_liquidation_price(
                pair=pair, open_rate=rate, is_short=side == "short", amount=amount,
                stake_amount=stake, leverage=lev, wallet_balance=stake, open_trades=[],
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (no tiers/market data: fall back to the cap)
            log_limited(logger, pair, "liq_price", now, f"liquidation price unavailable ({exc})")
            return None
        if liq is None or liq <= 0:
            return None
        need = ctx.stop_distance * (1 + self.pf.risk.liquidation_buffer)
        if abs(rate - liq) / rate < need:
            return (f"liquidation: {liq:.6g} at {lev:g}x lies inside the stop {stop:.6g} "
                    f"+ {self.pf.risk.liquidation_buffer:.0%} buffer")  # fmt: skip
        return None

    def _book_gate(self, pair, amount, rate, now, tag, side, ctx: EntryRisk) -> str | None:
        g = self.pf.risk.entry_guard
        if not (g.book_check and self._live()):
            return None  # backtests have no book history (issue 5 records it)
        try:
            book = self.dp.orderbook(pair, 50) or {}
        except Exception as exc:  # noqa: BLE001
            return f"book: order book unavailable ({exc})"
        spreads = getattr(self, "_pf_spreads", None)
        if spreads is None:
            spreads = self._pf_spreads = {}
        history = spreads.setdefault(pair, [])
        bids, asks = book.get("bids", []), book.get("asks", [])
        ok, why = book_allows(bids, asks, history, notional=amount * rate,
                              max_spread_ratio=g.max_spread_ratio, depth_bps=g.depth_bps,
                              min_depth_ratio=g.min_depth_ratio)  # fmt: skip
        s = spread_bps(bids, asks)
        if math.isfinite(s):
            history.append(s)
            del history[:-200]
        return None if ok else f"book: {why}"
