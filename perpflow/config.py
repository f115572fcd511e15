"""The `perpflow` section of a Freqtrade config: a frozen, typed model validated once at start-up.

Every default is documented here and in README.md. A wrong value raises `PerpflowConfigError`
naming the key path (e.g. `perpflow.risk.risk_per_trade`) and what is allowed. Every model is
strict: unknown keys are errors, numbers must be finite JSON numbers (not strings, not booleans),
booleans must be true/false, and names (sessions, OI regimes, timeframes) come from fixed lists.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from perpflow.config_base import _Frozen, key_path
from perpflow.config_execution import ChildOrdersConfig, ExecutionConfig
from perpflow.config_security import check_secrets
from perpflow.errors import PerpflowConfigError
from perpflow.timeframes import OI_TIMEFRAMES, TIMEFRAMES

__all__ = [
    "ChildOrdersConfig",
    "ExecutionConfig",
    "PerpflowConfig",
    "PerpflowConfigError",
    "check_secrets",
    "load_perpflow_config",
]

SessionName = Literal["ny_open", "ny_close", "asia_london"]
# session blocks of `perpflow.features.sessions.SESSION_NAMES` plus the rest of the day
TrailSession = Literal["ny_open", "ny_close", "asia_london", "other"]
# codes of `perpflow.features.open_interest.OI_REGIMES`
OIRegime = Literal[0, 1, 2, 3, 4]
Timeframe = Literal[TIMEFRAMES]  # Freqtrade's Binance USDT-M candle intervals
OITimeframe = Literal[OI_TIMEFRAMES]  # Binance's open-interest periods
# exchange ids as the store partitions them (lower-case ccxt ids)
EXCHANGE_ID = r"^[a-z][a-z0-9]{1,31}$"
# a trail width multiplier: positive (0 or less would put the stop at or through the price)
TrailMultiplier = Annotated[float, Field(gt=0, le=10)]


class GovernorConfig(_Frozen):
    """Drawdown governor on equity including open profit, from its running peak (never re-based
    by time). At `hard_drawdown` it trips: a global lock stops new entries until an operator
    re-arms, by deleting that lock (Telegram `/delete_locks`, FreqUI's Locks view, REST
    `DELETE /api/v1/locks/{id}`) or by setting `rearm` to a new value and sending
    `/reload_config`. Re-arming re-bases the peak to the equity of that moment."""

    enabled: bool = True
    soft_drawdown: float = Field(0.08, gt=0, lt=1, description="cut size and leverage from here")
    hard_drawdown: float = Field(0.10, gt=0, lt=1, description="trip: no entries until re-armed")
    soft_scale: float = Field(0.5, gt=0, le=1, description="size/leverage multiplier when soft")
    min_budget_r: float = Field(
        0.25, ge=0, le=1,
        description="entries whose risk budget left is below this share of risk_per_trade are "
        "refused; flat with less than that left before the cap counts as reaching it",
    )  # fmt: skip
    rearm: str | None = Field(
        None, min_length=1, max_length=200,
        description="re-arm a tripped cap: set a NEW value (e.g. the current time) and "
        "/reload_config; each value re-arms at most once",
    )  # fmt: skip
    backtest_rearm_hours: float | None = Field(
        None, gt=0, le=24 * 365,
        description="study knob, backtests only: simulate an operator re-arm this long after "
        "a trip (default off: a trip halts entries for the rest of the backtest)",
    )  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pause_hours" in data:
            raise ValueError(
                "pause_hours was removed: the hard cap no longer pauses for a time, it holds "
                "until an operator re-arms (see README 'Drawdown cap'); for backtest studies use "
                "backtest_rearm_hours"
            )
        return data


class CarryConfig(_Frozen):
    """Funding carry against the expected edge."""

    enabled: bool = True
    holding_hours: float = Field(8.0, gt=0, le=24 * 60, description="planned holding period")
    win_rate: float = Field(0.4, gt=0, lt=1, description="assumed hit rate of the R target")
    max_share: float = Field(0.25, gt=0, le=1, description="largest carry share of the edge")
    max_paid_r: float = Field(0.5, gt=0, le=10, description="exit when funding paid >= this R")


class EntryGuardConfig(_Frozen):
    """Live entry checks: order book (confirm_trade_entry), exchange health pause, orphan positions."""

    book_check: bool = True
    max_spread_ratio: float = Field(3.0, gt=1, le=100, description="spread vs its recent median")
    depth_bps: float = Field(10.0, gt=0, le=500)
    min_depth_ratio: float = Field(2.0, ge=0, le=1000, description="book depth vs order notional")
    health_pause_minutes: float = Field(
        15.0, gt=0, le=24 * 60,
        description="life of the health lock; renewed while the exchange stays unhealthy and "
        "removed as soon as it is healthy again",
    )  # fmt: skip
    health_recover_probes: int = Field(
        3, ge=1, le=100, description="healthy probes in a row that lift the health pause"
    )
    orphan_check_seconds: float = Field(
        60.0, ge=1, le=3600,
        description="live: compare the exchange's positions with the open trades this often",
    )  # fmt: skip


class RiskConfig(_Frozen):
    """Sizing, stops, leverage, drawdown governor, funding carry, entry guards."""

    risk_per_trade: float = Field(
        0.01, gt=0, le=0.05, description="equity fraction lost at the stop"
    )
    atr_period: int = Field(14, ge=2, le=200, description="ATR period in candles")
    stop_atr_buffer: float = Field(0.25, ge=0, le=3, description="ATR beyond the swept extreme")
    fallback_stop_atr: float = Field(1.5, gt=0, le=10, description="ATR stop when no extreme")
    min_stop_distance: float = Field(0.004, gt=0, lt=0.5, description="floor of stop distance")
    max_stop_distance: float = Field(0.06, gt=0, lt=0.5, description="ceiling of stop distance")
    trail_atr: float = Field(2.0, gt=0, le=10, description="trailing band width in ATR")
    take_profit_r: float = Field(3.0, gt=0, le=50, description="exit at this multiple of the risk")
    max_leverage: float = Field(5.0, ge=1, le=125, description="hard leverage cap")
    maintenance_margin_rate: float = Field(0.005, ge=0, lt=0.5)
    liquidation_buffer: float = Field(
        0.5, ge=0, le=10, description="liquidation must lie (1+buffer) x stop distance away"
    )
    min_leverage: float = Field(1.0, ge=1, le=125, description="leverage at zero conviction")
    high_vol_pct: float = Field(0.9, gt=0, le=1, description="vol percentile that halves size")
    high_vol_scale: float = Field(0.5, gt=0, le=1, description="size multiplier in high vol")
    pool_stops: bool = Field(True, description="stop beyond the opposing liquidity pool")
    stop_tick_buffer: int = Field(2, ge=0, le=1000, description="ticks beyond the stop level")
    session_trail: dict[TrailSession, TrailMultiplier] = Field(
        {"ny_open": 1.25, "ny_close": 1.0, "asia_london": 0.8, "other": 1.0},
        description="trail width multiplier per New York session block (a block left out: 1)",
    )
    governor: GovernorConfig = GovernorConfig()
    carry: CarryConfig = CarryConfig()
    entry_guard: EntryGuardConfig = EntryGuardConfig()

    @model_validator(mode="after")
    def _check(self) -> RiskConfig:
        if self.min_leverage > self.max_leverage:
            raise ValueError(f"min_leverage {self.min_leverage} > max_leverage {self.max_leverage}")
        if self.governor.soft_drawdown >= self.governor.hard_drawdown:
            raise ValueError("governor.soft_drawdown must be below governor.hard_drawdown")
        if self.governor.min_budget_r * self.risk_per_trade >= self.governor.hard_drawdown:
            raise ValueError("governor.min_budget_r x risk_per_trade must be below hard_drawdown")
        return self


class SweepConfig(_Frozen):
    """Swing, liquidity-pool and sweep detection on the strategy timeframe."""

    swing_left: int = Field(12, ge=1, le=500, description="bars left of a swing")
    swing_right: int = Field(6, ge=1, le=500, description="bars right of a swing (confirmation)")
    max_depth_atr: float = Field(1.5, gt=0, le=20, description="deeper wicks are breakouts")
    use_pools: bool = Field(True, description="also enter on sweeps of equal highs/lows pools")
    pool_fractal: int = Field(6, ge=1, le=100, description="bars each side of a pool touch")
    pool_tolerance: float = Field(0.001, gt=0, le=0.02, description="equal within this share")
    pool_lags: int = Field(32, ge=2, le=200, description="recent swings searched for equals")
    pool_max_age: int = Field(864, ge=10, le=100_000, description="oldest touch, in candles")


class FundingFilter(_Frozen):
    """No longs at extreme positive funding z, no shorts at extreme negative."""

    enabled: bool = True
    # 30 settlements = 10 days at 8h: inside the 300-candle 1h start-up Freqtrade loads.
    lookback: int = Field(30, ge=3, le=3000, description="settlements in the z-score window")
    z_extreme: float = Field(2.0, gt=0, le=10)
    max_staleness_hours: float = Field(24.0, gt=0, le=24 * 14)


class OpenInterestFilter(_Frozen):
    """The OI regime as a trend/trap filter: OI change vs price change over `change_periods` OI
    rows, each as a z-score of its own rolling `regime_window`. No fade long while OI builds
    into a falling price (regime 2: new shorts / trapped longs, continuation), no fade short
    while OI builds into a rising price (regime 1: trend participation). Codes: see
    `perpflow.features.open_interest.OI_REGIMES`. Optionally also cap the raw OI change."""

    enabled: bool = True
    timeframe: OITimeframe = "5m"
    change_periods: int = Field(12, ge=1, le=10_000, description="OI rows for the change")
    regime_window: int = Field(288, ge=10, le=100_000, description="OI rows in the z window")
    regime_threshold: float = Field(1.0, gt=0, le=10, description="|z| that counts as a move")
    block_long_regimes: list[OIRegime] = Field([2], description="OI regimes with no long entries")
    block_short_regimes: list[OIRegime] = Field([1], description="OI regimes with no short entries")
    max_change: float | None = Field(
        None, ge=-1, le=1, description="also cap the OI change at entry (None = off)"
    )
    max_staleness_minutes: float = Field(30.0, gt=0, le=24 * 60)


class LiquidationFilter(_Frozen):
    """Mean-reversion entries after liquidation clusters near the London (08:00 London) and New
    York (09:30 New York) opens, when the cluster candle's extreme holds. Reads the event store
    (`store`, default `<datadir>/store`); candles outside the store's recorded coverage have no
    liquidation features, so these entries are blocked there (logged once)."""

    enabled: bool = True
    store: str | None = Field(
        None, min_length=1, description="event store root (default <datadir>/store)"
    )
    exchange: str = Field(
        "binance", pattern=EXCHANGE_ID, description="exchange partition of the store to read"
    )
    lookback: int = Field(288, ge=10, le=100_000, description="candles in the cluster quantile")
    pct: float = Field(0.9, gt=0.5, lt=1, description="cluster = total >= this rolling quantile")
    cascade_window: int = Field(12, ge=1, le=10_000)
    min_dominance: float = Field(0.6, ge=0.5, le=1, description="one side's share of a cluster")
    max_bars_after: int = Field(6, ge=1, le=500, description="entry at most this long after")
    handoff_before_minutes: int = Field(60, ge=0, le=600)
    handoff_after_minutes: int = Field(90, ge=0, le=600)


class SessionFilter(_Frozen):
    """Entries only inside the chosen New York session blocks (DST aware)."""

    enabled: bool = True
    blocks: tuple[SessionName, ...] = Field(("ny_open", "ny_close", "asia_london"), strict=False)


class MacroFilter(_Frozen):
    """No entries from `before_minutes` before to `after_minutes` after scheduled macro events."""

    enabled: bool = True
    before_minutes: float = Field(30, ge=0, le=24 * 60)
    after_minutes: float = Field(60, ge=0, le=24 * 60)
    importance: tuple[Literal["high", "medium", "low"], ...] = Field(("high",), strict=False)
    calendar_file: str | None = Field(
        None, min_length=1, description="your own CSV; default: shipped file"
    )
    strict_coverage: bool = Field(True, description="block entries past the calendar's end")


class RegimeFilter(_Frozen):
    """Trade only when realised volatility is not in its quiet tail."""

    enabled: bool = True
    window: int = Field(6, ge=2, le=1000, description="candles in the realised-vol window")
    lookback: int = Field(2016, ge=50, le=100_000, description="candles ranking the vol")
    min_pct: float = Field(0.3, ge=0, le=1, description="lowest vol percentile that trades")


class StructureFilter(_Frozen):
    """Structure context: a swept low must close back at or above the value area low (a swept
    high at or below the value area high), and not right under an unfilled opposing fair value
    gap (within `fvg_block_atr` ATR), where supply (demand) is still waiting."""

    enabled: bool = True
    profile_window: int = Field(288, ge=20, le=20_000)
    profile_bins: int = Field(24, ge=4, le=200)
    fvg_block_atr: float = Field(
        0.5, ge=0, le=10, description="no long under an open bearish FVG this close (ATR)"
    )


class BookFilter(_Frozen):
    """Order-book support for sweep entries, from recorded books (`perpflow record`): a long
    needs top-10 imbalance >= `min_imbalance` toward the bids and no void wider than
    `max_void_bps` among the bids (price would fall through it); a short mirrored. A candle
    whose last recorded book is older than `max_staleness_seconds` at its close, or that has
    none, blocks these entries (logged once). With `cross_exchange`, the second venue's book
    must be fresh too, the two mids within `max_mid_gap_bps`, and (`cross_agreement`) its
    imbalance toward the trade as well. Off by default: it needs recorded history."""

    enabled: bool = False
    store: str | None = Field(
        None, min_length=1, description="event store root (default <datadir>/store)"
    )
    exchange: str = Field("binance", pattern=EXCHANGE_ID)
    min_imbalance: float = Field(0.0, ge=-1, le=1)
    max_void_bps: float = Field(
        10.0, gt=0, le=10_000, description="widest gap between adjacent levels"
    )
    max_staleness_seconds: float = Field(30.0, gt=0, le=3600)
    cross_exchange: str | None = Field(
        None,
        pattern=EXCHANGE_ID,
        description="a second venue's recorded books (bybit, okx): divergence columns and gate",
    )
    max_mid_gap_bps: float = Field(
        15.0,
        gt=0,
        le=10_000,
        description="block when the venues' mids differ more (one book is off)",
    )
    cross_agreement: bool = Field(
        False, description="the second venue's imbalance must also lean toward the trade"
    )


class FiltersConfig(_Frozen):
    funding: FundingFilter = FundingFilter()
    open_interest: OpenInterestFilter = OpenInterestFilter()
    sessions: SessionFilter = SessionFilter()
    macro: MacroFilter = MacroFilter()
    regime: RegimeFilter = RegimeFilter()
    structure: StructureFilter = StructureFilter()
    liquidations: LiquidationFilter = LiquidationFilter()
    book: BookFilter = BookFilter()


class HyperoptConfig(_Frozen):
    """Let the strategy's hyperopt parameters (Freqtrade's `*Parameter`s, filled by `freqtrade
    hyperopt` or its parameter file) override the matching values of this section."""

    enabled: bool = Field(False, description="off: this config section is the only source")


class ValidationConfig(_Frozen):
    """Knobs used by `perpflow validate` studies (leave at defaults for trading)."""

    entry_delay_candles: int = Field(
        0, ge=0, le=50, description="enter this many candles after the signal (latency study)"
    )


class VoteWeights(_Frozen):
    """Weights of the ensemble vote (normalised by their sum)."""

    model: float = Field(0.7, ge=0, le=100, description="FreqAI model's probability of a win")
    rules: float = Field(
        0.3, ge=0, le=100, description="the rules' conviction score for that side (0..1)"
    )


class AIConfig(_Frozen):
    """LiquiditySweepAI: event targets and the vote between the model and the rules."""

    take_atr: float = Field(2.0, gt=0, le=50, description="target barrier in ATR (the `win` class)")
    stop_atr: float = Field(1.0, gt=0, le=50, description="stop barrier in ATR")
    weights: VoteWeights = VoteWeights()
    threshold: float = Field(0.5, ge=0, le=1, description="enter when the weighted vote >= this")

    @model_validator(mode="after")
    def _some_weight(self) -> AIConfig:
        if self.weights.model + self.weights.rules <= 0:
            raise ValueError("perpflow.ai.weights: at least one weight must be positive")
        return self


class EvidenceConfig(_Frozen):
    """What the shipped rules are known to be worth (`perpflow research select`, docs/evidence.md):
    a running bot states it at start, so nobody mistakes defaults for a demonstrated edge."""

    status: Literal["none", "exploratory", "confirmed"] = Field(
        "none", description="none: no demonstrated edge; confirmed: passed a pre-registered "
        "confirmation span (DSR significant)")  # fmt: skip
    note: str = Field("no demonstrated edge on real data (docs/evidence.md)", max_length=300)


class PerpflowConfig(_Frozen):
    """Root of the `perpflow` config section."""

    evidence: EvidenceConfig = EvidenceConfig()

    ai: AIConfig = AIConfig()

    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    sweep: SweepConfig = SweepConfig()
    filters: FiltersConfig = FiltersConfig()
    validation: ValidationConfig = ValidationConfig()
    hyperopt: HyperoptConfig = HyperoptConfig()
    allow_remote_api: bool = Field(False, description="allow a non-loopback API server address")
    plot: Literal["compact", "full"] = Field(
        "compact", description="FreqUI plot config: price + 4 panels, or every panel and FVG zone"
    )


def load_perpflow_config(config: dict[str, Any]) -> PerpflowConfig:
    """Validate `config["perpflow"]` (missing section = all defaults) and return the frozen model."""
    section = config.get("perpflow", {})
    if not isinstance(section, dict):
        raise PerpflowConfigError("perpflow: must be a JSON object")
    try:
        model = PerpflowConfig.model_validate(section)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = key_path("perpflow", err["loc"])
            got = repr(err.get("input"))
            got = got if len(got) <= 80 else got[:77] + "..."
            lines.append(f"{path}: {err['msg']} (got {got})")
        raise PerpflowConfigError("invalid perpflow config:\n  " + "\n  ".join(lines)) from None
    if model.risk.min_stop_distance >= model.risk.max_stop_distance:
        raise PerpflowConfigError(
            "perpflow.risk.min_stop_distance must be below perpflow.risk.max_stop_distance"
        )
    return model
