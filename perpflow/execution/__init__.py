"""Execution: order policy, child orders, slippage model and shortfall measurement."""
