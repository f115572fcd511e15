"""TCNEventClassifier: the event ensemble with the TCN as its only member.

A temporal convolutional network (`perpflow.ai.tcn`, on JAX's CPU wheels) reads the last
`freqai.ensemble.tcn.window` candles of features ending at each setup candle and says whether
the setup wins; its probability is calibrated on the window's validation split. Everything else
(purge, saving, predictions with `p_tcn`/`raw_tcn`, live windows) is EventEnsembleClassifier's.
Set `freqai.ensemble.weights` to vote it with the rules and LightGBM instead.
"""

from __future__ import annotations

from perpflow.ai.ensemble import EnsembleConfig
from perpflow.ai.freqai_ensemble import EventEnsembleBase


class TCNEventClassifier(EventEnsembleBase):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if "weights" not in self.freqai_info.get("ensemble", {}):
            self.ensemble = EnsembleConfig(weights={"rules": 0.0, "lightgbm": 0.0, "tcn": 1.0},
                                           calibration=self.ensemble.calibration, tcn=self.ensemble.tcn)  # fmt: skip
        self.CONV_WIDTH = self.ensemble.tcn.window
