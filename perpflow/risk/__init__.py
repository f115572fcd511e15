"""Risk rules: pure functions the strategies call from their callbacks."""
