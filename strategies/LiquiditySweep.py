"""LiquiditySweep: fade stop runs through swing highs/lows on leveraged USDT perpetuals.

Thin Freqtrade strategy file; the logic lives in `perpflow.strategy` and `perpflow.risk`.
Long after a sweep of the last confirmed swing low or a sell-side pool that closes back inside
(short mirrored), filtered by funding z-score, the open-interest regime and the New York session
blocks; plus mean-reversion entries after liquidation clusters near the London/New York opens
when the cluster's low (high) holds, read from the event store.
Risk: 1% of equity to the stop (halved in the top volatility decile and by the drawdown
governor), stop beyond the swept extreme or opposing pool then a session-aware 2 ATR trail,
leverage from conviction capped by the exchange tier and the liquidation distance; entries pass
the governor, funding-carry, blackout, session, book and liquidation-price gates. All knobs are in the config's `perpflow` section (see README).
"""

from __future__ import annotations

import logging

from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from freqtrade.strategy import DecimalParameter, IStrategy
from pandas import DataFrame

from perpflow.config import PerpflowConfig, PerpflowConfigError, check_secrets, load_perpflow_config
from perpflow.data.readers import store_root
from perpflow.strategy.annotations import structure_annotations
from perpflow.strategy.books import BooksMixin
from perpflow.strategy.dry_stops import DryStopsMixin
from perpflow.strategy.execution import ExecutionMixin, add_model_inputs, check_execution
from perpflow.strategy.live_window import check_warmup
from perpflow.strategy.plot import plot_config
from perpflow.strategy.risk_callbacks import RiskCallbacksMixin
from perpflow.strategy.risk_guard import RiskGuardMixin
from perpflow.strategy.sweep_signals import entry_tags, populate_sweep_indicators, sweep_entries
from perpflow.strategy.warmup import WarmupNeed, binding_need, startup_candles, warmup_needs

logger = logging.getLogger(__name__)


class LiquiditySweep(
    ExecutionMixin, BooksMixin, DryStopsMixin, RiskGuardMixin, RiskCallbacksMixin, IStrategy
):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    can_short = True
    # Exits come from the stop/trail and the R-multiple take profit (custom_exit).
    minimal_roi = {"0": 100.0}
    # Backstop only: the real stop is custom_stoploss (max 6% distance x max 5x leverage).
    stoploss = -0.35
    use_custom_stoploss = True
    trailing_stop = False
    process_only_new_candles = True
    # True so Freqtrade calls custom_exit (the take profit and the funding exit): it only does
    # when exit signals are on. populate_exit_trend sets no exit column, so no signal exits.
    use_exit_signal = True
    # The longest feature warm-up (perpflow.strategy.warmup) of the shipped defaults; each
    # instance derives it from the active config in __init__, before Freqtrade copies it.
    startup_candle_count = startup_candles(warmup_needs(PerpflowConfig(), "5m"))

    # Searchable by `freqtrade hyperopt` (and `perpflow validate walk-forward --hyperopt-epochs`).
    # They replace the matching perpflow values only with `perpflow.hyperopt.enabled: true`;
    # otherwise the config section is the single source of every setting.
    max_depth_atr = DecimalParameter(0.5, 3.0, default=1.5, decimals=2, space="buy")
    take_profit_r = DecimalParameter(1.5, 5.0, default=3.0, decimals=1, space="sell")
    trail_atr = DecimalParameter(1.0, 4.0, default=2.0, decimals=1, space="sell")

    @property
    def plot_config(self) -> dict:
        # FreqUI's "From strategy": compact by default, `perpflow.plot: "full"` for every panel.
        return plot_config(self._pf_settings().plot)

    def _pf_settings(self):
        """The validated perpflow section (before bot_start too: plot-dataframe, webserver)."""
        return getattr(self, "pf", None) or load_perpflow_config(self.config)

    @property
    def protections(self):
        # Backstop behind the drawdown governor (whose 10% cap holds until re-armed): Freqtrade's own
        # MaxDrawdown on equity, active in backtests with --enable-protections.
        return [{
            "method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period_candles": 288,
            "trade_limit": 3, "stop_duration_candles": 288, "max_allowed_drawdown": 0.15,
        }]  # fmt: skip

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        # Validate the perpflow config section once; a wrong value stops start-up naming the key.
        try:
            self._pf_base = self.pf = load_perpflow_config(config)
        except PerpflowConfigError as exc:
            raise OperationalException(str(exc)) from exc
        # Set before Freqtrade copies it into the config (StrategyResolver, right after this)
        # and sizes its live candle fetch from it (Exchange.validate_config, after that); a
        # `startup_candle_count` in the config still overrides it.
        needs = self.warmup_needs()
        self.startup_candle_count = startup_candles(needs)
        check_warmup(config, needs, self.startup_candle_count, strategy=type(self).__name__)

    def base_series(self) -> tuple[str, str]:
        """The strategy's own candles: (config timeframe, Freqtrade candle type)."""
        tf = self.config.get("timeframe") or self.timeframe
        return tf, CandleType.get_default(self.config.get("trading_mode", "futures")).value

    def warmup_needs(self) -> list[WarmupNeed]:
        """Every feature's warm-up under the active config, on the config's timeframe."""
        tf, ct = self.base_series()
        return warmup_needs(self._pf_base, tf, candle_type=ct)

    def bot_start(self, **kwargs) -> None:
        self._apply_hyperopt_params()
        check_secrets(self.config)
        check_execution(self)  # policy on: limit orders, position adjustment, a loadable model
        if self._pf_base.evidence.status != "confirmed":
            logger.warning("perpflow evidence: %s (%s)", self._pf_base.evidence.status,
                           self._pf_base.evidence.note)  # fmt: skip
        need = binding_need(self.warmup_needs())
        logger.info("perpflow warm-up: %d %s candles, set by the %s (%s, %s)",
                    self.startup_candle_count, need.timeframe, need.feature, need.key, need.detail)  # fmt: skip

    def _apply_hyperopt_params(self) -> None:
        """`self.pf` = the config section, with the hyperopt parameters' current values when
        `perpflow.hyperopt.enabled` (re-applied every hyperopt epoch)."""
        base = self._pf_base
        if not base.hyperopt.enabled:
            self.pf = base
            return
        self.pf = base.model_copy(update={
            "sweep": base.sweep.model_copy(update={"max_depth_atr": float(self.max_depth_atr.value)}),
            "risk": base.risk.model_copy(update={"take_profit_r": float(self.take_profit_r.value),
                                                 "trail_atr": float(self.trail_atr.value)}),
        })  # fmt: skip

    def informative_pairs(self):
        # Declared so dry-run/live fetch them; backtests read the same series from the datadir.
        pairs = self.dp.current_whitelist() if self.dp else []
        wanted = []
        for pair in pairs:
            if self.pf.filters.funding.enabled:
                wanted.append((pair, "1h", CandleType.FUNDING_RATE))
            if self.pf.filters.open_interest.enabled:
                wanted.append(
                    (pair, self.pf.filters.open_interest.timeframe, CandleType.OPEN_INTEREST)
                )
        return wanted

    def _series(self, pair: str, timeframe: str, candle_type: CandleType, enabled: bool):
        if not enabled or not self.dp:
            return None
        return self.dp.get_pair_dataframe(pair, timeframe, candle_type=candle_type)

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        out = self.sweep_indicators(dataframe, metadata["pair"])
        # The governor's drawdown and risk scale for FreqUI: live only (a backtest has no
        # history of them when indicators are computed, and must not borrow one).
        risk = self.risk_frame(out["date"]) if self._live() else None
        out["pf_drawdown"] = risk["pf_drawdown"].to_numpy() if risk is not None else float("nan")
        out["pf_risk_scale"] = (
            risk["pf_risk_scale"].to_numpy() if risk is not None else float("nan")
        )
        return out

    def sweep_indicators(self, dataframe: DataFrame, pair: str) -> DataFrame:
        """The perpflow indicator frame of one pair (candles plus funding, OI, liquidations)."""
        f = self.pf.filters
        out = populate_sweep_indicators(
            dataframe,
            pair=pair,
            cfg=self.pf,
            timeframe=self.timeframe,
            funding=self._series(pair, "1h", CandleType.FUNDING_RATE, f.funding.enabled),
            open_interest=self._series(
                pair, f.open_interest.timeframe, CandleType.OPEN_INTEREST, f.open_interest.enabled
            ),
            liquidation_store=store_root(self.pf, self.config.get("datadir")),
        )
        if self.pf.execution.enabled:  # the slippage model's causal per-candle inputs
            out = add_model_inputs(out, self.timeframe)
        # The leverage cap conviction grants (before the tier and liquidation caps), for FreqUI.
        r = self.pf.risk
        for side in ("long", "short"):
            out[f"pf_leverage_{side}"] = r.min_leverage + out[f"conviction_{side}"] * (
                r.max_leverage - r.min_leverage)  # fmt: skip
        return out

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        self._apply_hyperopt_params()
        long, short = sweep_entries(dataframe, self.pf)
        long_tag, short_tag = entry_tags(dataframe, self.pf)
        # Sweep of a swing low or sell-side pool that closed back above it, or a reclaim after a
        # long-liquidation cluster at a session handoff; all filters passed.
        dataframe.loc[long, "enter_long"] = 1
        dataframe.loc[long, "enter_tag"] = long_tag[long]
        # Sweep of a swing high or buy-side pool that closed back below it, all filters passed.
        dataframe.loc[short, "enter_short"] = 1
        dataframe.loc[short, "enter_tag"] = short_tag[short]
        delay = self.pf.validation.entry_delay_candles
        if delay:  # latency study: act N candles after the signal (never earlier)
            for col in ("enter_long", "enter_short", "enter_tag"):
                if col in dataframe:
                    dataframe[col] = dataframe[col].shift(delay)
        return dataframe

    def plot_annotations(self, pair, start_date, end_date, dataframe, **kwargs):
        # Session blocks, macro blackouts, fresh FVG zones and pool sweeps in FreqUI.
        return structure_annotations(dataframe, zones=self._pf_settings().plot == "full")

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        # Exits are handled by custom_stoploss (stop + trail) and custom_exit (R target).
        return dataframe
