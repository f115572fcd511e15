"""The drawdown governor inside the bot: equity and open risk, the trip lock, operator re-arms,
the entry risk budget, persistence and the FreqUI risk panel.

Equity = wallet + open profit of open trades at their last analysed close. Open risk = what the
open trades lose from there if each is stopped at its current stop (plus the exit fee). A new
trade may risk at most `budget` = equity - open risk - (1 - hard) x peak, so the account can fall
past the cap only by gaps and slippage beyond stops.

Re-arm paths (each one logged and alerted, the peak re-based to the equity of that moment):
- the operator deletes the governor's global lock (Telegram `/delete_locks`, FreqUI Locks,
  REST `DELETE /api/v1/locks/{id}`): noticed on the next `bot_loop_start`;
- `perpflow.risk.governor.rearm` set to a value not seen before, applied by `/reload_config`;
- backtests only: `backtest_rearm_hours` after the trip (a study knob, off by default).

Mixed into a strategy by `RiskGuardMixin`; reads `self.pf`, `self.dp`, `self.wallets`.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import pandas as pd
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks, Trade
from freqtrade.persistence.pairlock import PairLock

from perpflow.risk.governor import DrawdownGovernor, is_governor_lock, lock_reason
from perpflow.strategy import governor_state

logger = logging.getLogger(__name__)
LIVE_MODES = (RunMode.DRY_RUN, RunMode.LIVE)
LOCK_YEARS = 10  # the trip lock's end: "until re-armed" in a field that needs a date
_LIVE_SAMPLES: dict[str, dict] = {}  # db_url -> {minute: (drawdown, scale)}


class GovernorMixin:
    """`_governor`, `_risk_scale`, `_risk_budget`, `_govern` (from `bot_loop_start`), `risk_frame`."""

    def _live(self) -> bool:
        return self.config.get("runmode") in LIVE_MODES

    def _governor(self) -> DrawdownGovernor:
        gov = getattr(self, "_pf_governor", None)
        if gov is None:
            g, r = self.pf.risk.governor, self.pf.risk
            gov = DrawdownGovernor(soft=g.soft_drawdown, hard=g.hard_drawdown,
                                   soft_scale=g.soft_scale,
                                   min_room=g.min_budget_r * r.risk_per_trade)  # fmt: skip
            self._pf_gov_saved = {}
            if self._live() and governor_state.load_state(gov):
                self._pf_gov_saved = {"peak": gov.peak, "tripped": gov.tripped_at,
                                      "token": gov.rearm_token}  # fmt: skip
                logger.info("governor state restored: peak %.2f%s", gov.peak or 0.0,
                            f", tripped at {gov.tripped_at:%Y-%m-%d %H:%M} UTC"
                            if gov.tripped else "")  # fmt: skip
            self._pf_governor = gov
        return gov

    def _risk_scale(self) -> float:
        return self._governor().scale if self.pf.risk.governor.enabled else 1.0

    # --- equity, open risk and the budget --------------------------------------------------
    def _book(self) -> tuple[float, float, int]:
        """(equity with open profit, open risk to the current stops, open trades).

        Equity is the account's whole stake-currency balance (not the `tradable_balance_ratio`
        share). Backtest/dry-run wallets hold closed profit only, so the open trades' profit at
        their last close is added; live, the exchange's total already includes it (Binance
        USDT-M: `marginBalance` = wallet balance + unrealised PnL)."""
        if not self.wallets:
            return float("nan"), float("nan"), 0
        total, risk = float(self.wallets.get_total(self.config["stake_currency"])), 0.0
        add_open = bool(self.config.get("dry_run", True))
        trades = Trade.get_open_trades()
        for trade in trades:
            row = self._last_row(trade.pair, ("close",))
            price = float(row["close"]) if row else float(trade.open_rate)
            if add_open:
                total += trade.calc_profit(price)
            stop = self._stored_stop(trade.pair, trade)
            gap = (stop - price) if trade.is_short else (price - stop)
            fee = float(trade.fee_close or trade.fee_open or 0.0)
            risk += float(trade.amount) * (max(gap, 0.0) + stop * fee)
        return total, risk, len(trades)

    def equity(self) -> float:
        """Wallet equity (stake currency) including the open profit of open trades."""
        return self._book()[0]

    def _risk_budget(self) -> tuple[float, str | None]:
        """(quote amount a new trade may lose at its stop, why no entry fits or None).
        Fails closed: any error reading the state refuses the entry."""
        if not self.pf.risk.governor.enabled:
            return math.inf, None
        try:
            gov = self._governor()
            if gov.tripped:
                return 0.0, (f"governor: hard cap {gov.hard:.0%} reached at "
                             f"{gov.tripped_at:%Y-%m-%d %H:%M} UTC; entries stopped until an "
                             "operator re-arms")  # fmt: skip
            equity, open_risk, _ = self._book()
        except Exception as exc:  # noqa: BLE001 (fail closed, never open blind)
            logger.exception("governor state unavailable")
            return 0.0, f"governor: state unavailable ({exc})"
        if not (math.isfinite(equity) and math.isfinite(open_risk)):
            return 0.0, "governor: equity unknown"
        budget = gov.budget(equity, open_risk)
        floor = gov.min_room * equity
        if budget < floor:
            return budget, (f"governor: risk budget {budget:,.2f} left before the {gov.hard:.0%} "
                            f"cap (drawdown {gov.drawdown(equity):.1%}, open risk "
                            f"{open_risk:,.2f}) is below the smallest trade {floor:,.2f}")  # fmt: skip
        return budget, None

    # --- the loop --------------------------------------------------------------------------
    def _govern(self, now: datetime) -> None:
        last = getattr(self, "_pf_gov_last", None)
        if last is not None and now <= last and not self._live():
            self._pf_governor = None  # a new backtest run (hyperopt epoch) on the same strategy
            if getattr(self, "_pf_history", None) is not None:
                self._pf_history.close()
            self._pf_history = None
        self._pf_gov_last = now
        gov = self._governor()
        equity, open_risk, n_open = self._book()
        if not math.isfinite(equity):
            return
        self._operator_rearm(gov, equity, now)
        change = gov.update(equity, now, open_trades=n_open)
        if change == "hard":
            self._trip(gov, equity, now)
        elif change is not None:
            self._alert(self._level_line(gov, change, equity, now))
        if self._live():
            governor_state.save_state(gov, self._pf_gov_saved)
            self._record_state(now, gov.drawdown(equity), gov.scale)
        else:
            self._backtest_sample(now, gov, equity, open_risk, change)

    def _level_line(self, gov: DrawdownGovernor, change: str, equity: float, now: datetime) -> str:
        at = f"at {now:%Y-%m-%d %H:%M} UTC"
        dd = gov.drawdown(equity)
        if change == "soft":
            return (f"governor soft {at}: drawdown {dd:.1%} >= {gov.soft:.0%} from the peak "
                    f"{gov.peak:,.2f}, size and leverage x {gov.soft_scale:g} "
                    f"(equity {equity:,.2f})")  # fmt: skip
        return f"governor normal {at}: drawdown {dd:.1%} recovered (equity {equity:,.2f})"

    def _trip(self, gov: DrawdownGovernor, equity: float, now: datetime) -> None:
        reason = lock_reason(gov.hard)
        PairLocks.lock_pair("*", now + timedelta(days=365 * LOCK_YEARS), reason, now=now)
        self._alert(f"governor hard at {now:%Y-%m-%d %H:%M} UTC: drawdown "
                    f"{gov.drawdown(equity):.1%} from the peak {gov.peak:,.2f} reached the "
                    f"{gov.hard:.0%} cap (equity {equity:,.2f}); no new entries until an operator "
                    "re-arms: delete the governor lock (Telegram /locks + /delete_locks, FreqUI "
                    "Locks, DELETE /api/v1/locks/<id>) or set perpflow.risk.governor.rearm to a "
                    "new value and /reload_config")  # fmt: skip

    def _operator_rearm(self, gov: DrawdownGovernor, equity: float, now: datetime) -> None:
        """Apply an operator's re-arm, if one was given since the last loop."""
        token = self.pf.risk.governor.rearm
        new_token = token is not None and token != gov.rearm_token
        if new_token:
            gov.rearm_token = token
        if not gov.tripped:
            if new_token:
                logger.info("governor: rearm value %r noted; the cap is not tripped, nothing to "
                            "re-arm", token)  # fmt: skip
            return
        how = None
        if new_token and self._live():
            how = f"the operator set perpflow.risk.governor.rearm={token!r} (/reload_config)"
        elif self._live() and not self._lock_active(now):
            how = "the operator deleted the governor lock"
        elif not self._live():
            hours = self.pf.risk.governor.backtest_rearm_hours
            if hours is not None and now >= gov.tripped_at + timedelta(hours=hours):
                how = f"simulated operator re-arm {hours:g} h after the trip (backtest_rearm_hours)"
        if how is None:
            return
        before = gov.peak
        gov.rearm(equity, now, how)
        self._release_locks(now)
        self._alert(f"governor rearm at {now:%Y-%m-%d %H:%M} UTC ({how}): peak re-based from "
                    f"{before:,.2f} to the equity {equity:,.2f}; entries allowed again")  # fmt: skip

    @staticmethod
    def _lock_active(now: datetime) -> bool:
        return any(is_governor_lock(lk.reason) for lk in PairLocks.get_pair_locks("*", now))

    @staticmethod
    def _release_locks(now: datetime) -> None:
        for lock in PairLocks.get_pair_locks("*", now):
            if is_governor_lock(lock.reason):  # as Freqtrade's own lock deletion does
                lock.active, lock.lock_end_time = False, now
        if PairLocks.use_db:
            PairLock.session.commit()

    # --- history: the FreqUI panel (live) and the backtest file ------------------------------
    def _backtest_sample(self, now, gov, equity, open_risk, change) -> None:
        if self.config.get("runmode") != RunMode.BACKTEST:
            return
        if self.config.get("export", "none") not in ("trades", "signals"):
            return
        hist = getattr(self, "_pf_history", None)
        if hist is None:
            directory = self.config.get("exportdirectory") or (
                self.config["user_data_dir"] / "backtest_results")  # fmt: skip
            hist = self._pf_history = governor_state.BacktestHistory(
                directory, type(self).__name__)  # fmt: skip
        event = gov.history[-1] if gov.history and gov.history[-1].time == now else None
        hist.sample(now, gov, equity, open_risk, gov.budget(equity, open_risk),
                    event.kind if event else "", event.note if event else "")  # fmt: skip

    def _samples(self) -> dict:
        """The live (drawdown, risk scale) samples of this bot's database, kept per process so a
        `/reload_config` (which builds a new strategy object) does not empty the panel."""
        return _LIVE_SAMPLES.setdefault(str(self.config.get("db_url", "")), {})

    def _record_state(self, now: datetime, drawdown: float, scale: float) -> None:
        """Keep one (drawdown, risk scale) sample per minute for FreqUI (`risk_frame`)."""
        hist = self._samples()
        hist[now.replace(second=0, microsecond=0)] = (drawdown, scale)
        if len(hist) > 50_000:
            for key in sorted(hist)[: len(hist) - 50_000]:
                del hist[key]

    def risk_frame(self, dates):
        """`pf_drawdown` and `pf_risk_scale` as known at each candle's close (as-of join of the
        close time on the governor's samples, taken by `bot_loop_start` before each analysis;
        NaN before the bot's first sample: no made-up history)."""
        hist = self._samples() if self._live() else {}
        dates = pd.to_datetime(dates, utc=True).astype("datetime64[ns, UTC]")
        close = pd.DataFrame({"close_time": dates + pd.Timedelta(self.timeframe)})
        if not hist:
            return close.assign(pf_drawdown=float("nan"), pf_risk_scale=float("nan"))
        first = min(hist)
        last = close["close_time"].iloc[-1] if len(close) else None
        if last is not None and last < first <= last + pd.Timedelta(self.timeframe):
            # the bot's first sample came after the close of the candle it now acts on: that
            # candle's state is the state it was acted on with (kept, so it never repaints)
            hist[last.to_pydatetime()] = hist[first]
        keys = sorted(hist)
        samples = pd.DataFrame({"t": pd.to_datetime(keys, utc=True).astype("datetime64[ns, UTC]"),
                                "pf_drawdown": [hist[k][0] for k in keys],
                                "pf_risk_scale": [hist[k][1] for k in keys]})  # fmt: skip
        merged = pd.merge_asof(close.reset_index(), samples, left_on="close_time", right_on="t",
                               direction="backward")  # fmt: skip
        return merged.set_index("index")[["pf_drawdown", "pf_risk_scale"]]
