"""EventEnsembleClassifier: FreqAI classifier voting rules, LightGBM and a TCN on each setup.

Built on FreqAI's `BaseClassifierModel` (its training loop, pipeline, sliding windows, saving);
the members, calibration and vote live in `perpflow.ai.ensemble`. Per training window it:
- purges train rows whose label horizon reaches the in-window test split (as LightGBM alone);
- fits the members switched on in `freqai.ensemble.weights` (rules, lightgbm, tcn): LightGBM on
  the setup row, the TCN on the last `freqai.ensemble.tcn.window` candles ending at the setup;
- calibrates each member on the in-window test split (`freqai.ensemble.calibration`);
- writes LightGBM's `<model>_importance.parquet` like LightGBMEventClassifier.
Predictions carry `win`/`loss` (the vote), and per member `p_<member>` (calibrated) and
`raw_<member>`, which `perpflow validate freqai` compares window by window.

Backtests: FreqAI hands `predict` only the backtest window, so the first `window - 1` candles of
each window have no TCN input and no vote (do_predict 0, no entry). Live, `CONV_WIDTH` makes
FreqAI pass the last `window` candles for each new one.
"""

from __future__ import annotations

from perpflow.ai.freqai_ensemble import EventEnsembleBase


class EventEnsembleClassifier(EventEnsembleBase):
    pass
