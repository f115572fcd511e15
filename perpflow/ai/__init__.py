"""perpflow.ai: FreqAI pieces for LiquiditySweepAI: event features and targets, the ensemble
vote, LightGBM event-classifier helpers, per-window feature importance and out-of-sample scores."""
