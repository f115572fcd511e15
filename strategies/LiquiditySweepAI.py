"""LiquiditySweepAI: LiquiditySweep's setups, voted on by a FreqAI event classifier.

Needs the FreqAI overlay: `freqtrade ... -c config.json -c config.freqai.json --strategy
LiquiditySweepAI` (model `LightGBMEventClassifier`, set there).
- Features (`%-`): perpflow's structure, volume profile, session, funding, OI-regime and
  liquidation readings at the setup candle, in ATR/z units (`perpflow.ai.features`).
- Target (`&-outcome`): "win" when a setup reaches `perpflow.ai.take_atr` ATR before
  `stop_atr` ATR within the triple-barrier horizon, else "loss" (`perpflow.ai.targets`); only
  setup candles carry a label, so the model learns on setups only.
- Entry: LiquiditySweep's entry (every rule gate: session, regime, funding, OI, macro,
  structure) AND the weighted vote of the model's win probability and the rules' conviction
  >= `perpflow.ai.threshold`. No trustworthy prediction (FreqAI's do_predict != 1) = no entry.
Risk callbacks, guard and protections are LiquiditySweep's.
"""

from __future__ import annotations

import logging

import pandas as pd
from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from LiquiditySweep import LiquiditySweep  # a sibling in the strategy path
from pandas import DataFrame

from perpflow.ai.features import EVENT_COLUMN, ai_features
from perpflow.ai.targets import TARGET_COLUMN, event_outcome
from perpflow.ai.vote import ensemble_vote
from perpflow.data.files import pair_file
from perpflow.strategy.plot import plot_config
from perpflow.strategy.warmup import WarmupNeed, freqai_needs

logger = logging.getLogger(__name__)

_HISTORY: dict[str, tuple[int, pd.DataFrame]] = {}


def _stored_history(path) -> pd.DataFrame | None:
    """The data dir's series at `path`, re-read only when the file changed (live analysis asks
    for it every candle)."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    cached = _HISTORY.get(str(path))
    if cached is None or cached[0] != mtime:
        cached = _HISTORY[str(path)] = (mtime, pd.read_feather(path))
    return cached[1]


class LiquiditySweepAI(LiquiditySweep):
    # startup_candle_count: LiquiditySweep's warm-up plus the model inputs' (warmup_needs below),
    # derived from the active config per instance. FreqAI loads the training window plus it.

    @property
    def plot_config(self) -> dict:
        # the model's vote first, then LiquiditySweep's panels (compact or full)
        return plot_config(self._pf_settings().plot, extra_subplots={"AI vote": {
            "win": {"color": "#16a34a"}, "ai_vote": {"color": "#2563eb"},
            "do_predict": {"color": "#7f7f7f", "type": "bar"}}})  # fmt: skip

    def bot_start(self, **kwargs) -> None:
        super().bot_start(**kwargs)
        if not self.config.get("freqai", {}).get("enabled"):
            raise OperationalException(
                "LiquiditySweepAI needs FreqAI: add `-c config.freqai.json` (and "
                "`--freqaimodel LightGBMEventClassifier` if your config does not set it)"
            )

    def warmup_needs(self) -> list[WarmupNeed]:
        """LiquiditySweep's needs plus the `%-` features' and FreqAI's expansion (when enabled)."""
        needs = super().warmup_needs()
        freqai = self.config.get("freqai", {})
        return needs + freqai_needs(freqai, *self.base_series()) if freqai.get("enabled") else needs

    # --- data -------------------------------------------------------------------------------
    def _series(self, pair: str, timeframe: str, candle_type: CandleType, enabled: bool):
        """The dataprovider's series; live, prefixed with the datadir's stored history so the
        training window (weeks) has funding/OI, not only the bot's start-up range."""
        recent = super()._series(pair, timeframe, candle_type, enabled)
        if recent is None or not self._live():
            return recent
        stored = _stored_history(
            pair_file(self.config["datadir"], pair, f"{timeframe}-{candle_type.value}")
        )
        if stored is None or stored.empty:
            return recent
        both = pd.concat([stored, recent], ignore_index=True)
        return both.drop_duplicates("date", keep="last").sort_values("date", ignore_index=True)

    # --- FreqAI -------------------------------------------------------------------------------
    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        out = super().populate_indicators(dataframe, metadata)
        return self.freqai.start(out, metadata, self)

    def feature_engineering_expand_basic(self, dataframe: DataFrame, metadata: dict, **kwargs):
        # Generic candle features, expanded by FreqAI over `include_timeframes`/corr pairs.
        dataframe["%-pct-change"] = dataframe["close"].pct_change()
        dataframe["%-hl-range"] = (dataframe["high"] - dataframe["low"]) / dataframe["close"]
        return dataframe

    def feature_engineering_standard(self, dataframe: DataFrame, metadata: dict, **kwargs):
        # Backtests hand FreqAI the frame populate_indicators built; live training hands it raw
        # candles, so the perpflow indicators are computed here when absent.
        if "conviction_long" not in dataframe.columns:
            dataframe = self.sweep_indicators(dataframe, metadata["pair"])
        feats = ai_features(dataframe, self.pf)
        return pd.concat([dataframe.drop(columns=feats.columns, errors="ignore"), feats], axis=1)

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs):
        target = event_outcome(dataframe, dataframe[EVENT_COLUMN], self.pf)
        # FreqAI hands over a frame built by many merges: consolidate once, then add the column
        return pd.concat([dataframe, target.rename(TARGET_COLUMN)], axis=1).copy()

    # --- entries ------------------------------------------------------------------------------
    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = super().populate_entry_trend(dataframe, metadata)
        side = dataframe[EVENT_COLUMN].fillna(0)
        p_win = (
            dataframe["win"]
            if "win" in dataframe
            else pd.Series(float("nan"), index=dataframe.index)
        )
        dataframe["ai_vote"] = ensemble_vote(
            p_win, dataframe["do_predict"], side, dataframe, self.pf
        )
        passed = (dataframe["ai_vote"] >= self.pf.ai.threshold).fillna(False) & (side != 0)
        delay = self.pf.validation.entry_delay_candles
        if delay:  # the rules' entries are already shifted; shift the vote with them
            passed, side = passed.shift(delay, fill_value=False), side.shift(delay, fill_value=0)
        # the rules set enter_* and tags (every gate); keep those the vote passes, on their side
        for col, sign in (("enter_long", 1), ("enter_short", -1)):
            rule = dataframe[col].fillna(0) if col in dataframe else 0
            dataframe[col] = ((rule == 1) & passed & (side * sign > 0)).astype(int)
        return dataframe
