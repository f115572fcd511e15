"""Strategy logic shared by the thin Freqtrade strategy files in `strategies/`."""
