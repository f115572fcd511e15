"""Execution: slippage model calibrated on recorded books, session-block sizing, order policy."""
