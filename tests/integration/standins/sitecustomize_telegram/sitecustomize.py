"""Loaded by the bot process in the Telegram end-to-end test (PYTHONPATH): points
python-telegram-bot's Bot API base URL at the local stand-in (Freqtrade has no setting for it).
Nothing else is changed: Freqtrade's Telegram module runs as it would against Telegram."""

import os

_base = os.environ.get("PERPFLOW_TELEGRAM_BASE_URL")
if _base:
    from telegram.ext import ApplicationBuilder

    _init = ApplicationBuilder.__init__

    def _patched(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self._base_url = _base
        self._base_file_url = _base.replace("/bot", "/file/bot")

    ApplicationBuilder.__init__ = _patched
