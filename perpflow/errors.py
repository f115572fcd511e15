"""Errors a user can fix: raised by any perpflow package, shown by the `perpflow` command as one
line (what is wrong and how to fix it) with exit code 2, never as a traceback."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a path, a date, a flag, a data file, a config value); the message
    says what is wrong and how to fix it. A ValueError, so existing `except ValueError` callers
    still catch it."""


class PerpflowConfigError(UserError):
    """A `perpflow` config value (or a security rule of the Freqtrade config) is wrong; the
    message names the key path (e.g. `perpflow.risk.risk_per_trade`) and what is allowed."""
