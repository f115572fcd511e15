"""How many candles of each series Freqtrade holds live, and the start-up check of the warm-up.

Freqtrade live (`Exchange.refresh_latest_ohlcv`, freqtrade/exchange/exchange.py) fetches every
(pair, timeframe, candle type) it is asked for with the same number of calls: `N =
ceil((startup_candle_count + 1) / ohlcv_candle_limit(strategy timeframe))`, at most 5 per pair
(more is refused at start-up). One call takes the newest `ohlcv_candle_limit(tf, type)` rows;
more calls page from `N x limit` candles ago. Once cached, a series is kept to its newest
`ohlcv_candle_limit(tf) + startup_candle_count` rows, and the still-forming candle is dropped.
Funding arrives as settlements (one row per 8 h on Binance); Binance serves open-interest history
for the last 30 days only. `live_candles` reproduces that arithmetic, reading the limits from
Freqtrade's own exchange class (`live_limits`); `check_warmup` refuses a config whose warm-up
does not fit, naming the feature, its config key and what to change.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from freqtrade.enums import CandleType, RunMode, TradingMode
from freqtrade.exceptions import OperationalException

from perpflow.features.funding import MAX_FUNDING_INTERVAL_HOURS
from perpflow.strategy.warmup import WarmupNeed

logger = logging.getLogger(__name__)

# Exchanges that serve open-interest history for a limited time back (Binance: "only the data of
# the latest 30 days is available", USDT-M openInterestHist).
OI_HISTORY = {"binance": pd.Timedelta(days=30)}


@dataclass(frozen=True)
class LiveLimits:
    """What Freqtrade's exchange class allows: candles per call by (timeframe, candle type),
    the most calls per pair, whether it pages from a `since` even for one call, whether it
    drops the forming candle, and how far back open interest exists."""

    exchange: str
    limits: dict[tuple[str, str], int]
    default_type: str
    max_calls: int
    require_since: bool
    drops_partial: bool
    oi_history: pd.Timedelta | None

    def per_call(self, timeframe: str, candle_type: str) -> int:
        return self.limits[(timeframe, candle_type)]


def _stand_in(config: dict[str, Any]):
    """Freqtrade's exchange class for the config, holding only what its candle-limit methods
    read: the merged `_ft_has` (class hierarchy + `exchange._ft_has_params`) and ccxt's feature
    table. Written by hand because `Exchange.__init__` also opens an event loop and network
    sessions; the methods called on it are Freqtrade's own. None if ccxt lacks the exchange."""
    import ccxt
    import freqtrade.exchange as ft_exchanges
    from freqtrade.exchange import MAP_EXCHANGE_CHILDCLASS, Exchange

    conf = config["exchange"]
    api_class = getattr(ccxt, conf["name"], None)
    if api_class is None:
        return None
    name = MAP_EXCHANGE_CHILDCLASS.get(conf["name"], conf["name"]).title()
    cls = getattr(ft_exchanges, name, Exchange)
    cls = cls if isinstance(cls, type) and issubclass(cls, Exchange) else Exchange
    # Freqtrade's __del__ would close the loop and sessions this object never opened
    quiet = type(cls.__name__, (cls,), {"__del__": lambda self: None})
    ex = quiet.__new__(quiet)
    ex.trading_mode = TradingMode(config.get("trading_mode", TradingMode.SPOT))
    ex._config = {**config, "candle_type_def": CandleType.get_default(ex.trading_mode)}
    ex.build_ft_has(conf)
    ex._api = ex._api_async = api_class()  # no markets, no network: the feature table only
    return ex


def live_limits(config: dict[str, Any], series: set[tuple[str, str]]) -> LiveLimits | None:
    """`LiveLimits` of the configured exchange for `series` ((timeframe, candle type) pairs),
    from Freqtrade's exchange class; None when the exchange is unknown to ccxt."""
    ex = _stand_in(config)
    if ex is None:
        return None
    default = ex._config["candle_type_def"]
    wanted = set(series) | {(tf, default.value) for tf, _ in series}
    limits = {(tf, ct): ex.ohlcv_candle_limit(tf, CandleType.from_string(ct)) for tf, ct in wanted}
    return LiveLimits(
        exchange=config["exchange"]["name"], limits=limits, default_type=default.value,
        max_calls=5 if ex.get_option("ohlcv_has_history") else 1,
        require_since=bool(ex.get_option("ohlcv_require_since")),
        drops_partial=bool(ex.get_option("ohlcv_partial_candle")),
        oi_history=OI_HISTORY.get(config["exchange"]["name"]),
    )  # fmt: skip


def call_count(startup: int, timeframe: str, limits: LiveLimits) -> int:
    """Freqtrade's `required_candle_call_count` (uncapped): calls per pair and series."""
    return math.ceil((startup + 1) / limits.per_call(timeframe, limits.default_type))


def live_candles(
    series: tuple[str, str], startup: int, timeframe: str, limits: LiveLimits
) -> tuple[int, str]:
    """Candles of `series` (its own timeframe; funding: hours covered at the longest settlement
    interval) the bot holds at every live candle, and why that many."""
    tf, ct = series
    calls = min(call_count(startup, timeframe, limits), limits.max_calls)
    per_call = limits.per_call(tf, ct)
    keep = limits.per_call(tf, limits.default_type) + startup  # the cache's age-out
    one_call = calls == 1 and not limits.require_since
    why = f"{calls} call(s) x {per_call} rows, cache {keep} rows"
    if ct == CandleType.FUNDING_RATE.value:
        per_row = int(pd.Timedelta(hours=MAX_FUNDING_INTERVAL_HOURS) / pd.Timedelta(tf))
        fetched = per_call * per_row if one_call else calls * per_call
        why += f", one settlement per {MAX_FUNDING_INTERVAL_HOURS} h"
        return min(fetched, keep * per_row), why
    fetched = per_call if one_call else calls * per_call
    if ct == CandleType.OPEN_INTEREST.value and limits.oi_history is not None:
        fetched = min(fetched, int(limits.oi_history / pd.Timedelta(tf)))
        why += f", {limits.exchange} serves {limits.oi_history.days} days of open interest"
    return min(fetched, keep) - int(limits.drops_partial), why


def _advice(need: WarmupNeed, have: int) -> str:
    """What to change so `need` fits in `have` candles."""
    if need.key is None:
        return "trade a longer timeframe"
    if need.per_unit and need.value is not None:
        most = need.value - math.ceil((need.candles - have) / need.per_unit)
        if most > 0:
            return f"set {need.key} to at most {int(most)} (now {need.value:g})"
    return f"lower {need.key} (now {need.value:g})"


def warmup_problems(
    needs: list[WarmupNeed], startup: int, timeframe: str, limits: LiveLimits
) -> list[str]:
    """One line per need that does not fit in what the bot holds live."""
    out = []
    for need in sorted(needs, key=lambda n: -n.candles):
        have, why = live_candles(need.series, startup, timeframe, limits)
        if need.candles > have:
            out.append(
                f"{need.feature} needs {need.candles} {need.timeframe} {need.candle_type} candles "
                f"({need.detail}) but the bot holds {have} live ({why}): {_advice(need, have)}"
            )
    return out


def check_warmup(
    config: dict[str, Any], needs: list[WarmupNeed], derived: int, *, strategy: str
) -> None:
    """Refuse (OperationalException) a trade-mode start whose warm-up the live bot cannot hold,
    and any start whose start-up count Freqtrade would refuse; warn in backtest-like modes.

    The start-up count is the config's `startup_candle_count` if set (it overrides the
    strategy), else `derived`."""
    timeframe = config.get("timeframe")
    if not timeframe or not config.get("exchange", {}).get("name"):
        return
    base = CandleType.get_default(config.get("trading_mode", TradingMode.SPOT)).value
    limits = live_limits(config, {n.series for n in needs} | {(timeframe, base)})
    if limits is None:
        logger.warning("%s: exchange %s unknown to ccxt: live warm-up not checked", strategy,
                       config["exchange"]["name"])  # fmt: skip
        return
    startup = int(config.get("startup_candle_count", derived))
    problems = warmup_problems(needs, startup, timeframe, limits)
    if not problems:
        return
    source = ("set in your config: remove it to use the derived "
              f"{derived}" if "startup_candle_count" in config else "derived from the config")  # fmt: skip
    msg = (f"{strategy}: the features need more candles than Freqtrade loads live on "
           f"{limits.exchange} (timeframe {timeframe}, startup_candle_count {startup}, {source}); "
           "these would be incomplete on every live candle (their filters fail closed):\n  - "
           + "\n  - ".join(problems))  # fmt: skip
    over_cap = call_count(startup, timeframe, limits) > limits.max_calls
    if config.get("runmode") in (RunMode.LIVE, RunMode.DRY_RUN) or over_cap:
        raise OperationalException(msg)
    logger.warning("%s\n(allowed in %s mode; trade and dry-run refuse it)", msg,
                   getattr(config.get("runmode"), "value", "this"))  # fmt: skip
