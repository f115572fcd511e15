"""perpflow: a Freqtrade plugin pack for swing trading leveraged crypto perpetual futures."""

__version__ = "0.1.0"
