"""A local stand-in for Telegram's Bot API (and a webhook receiver) for end-to-end tests.

Answers the Bot API methods python-telegram-bot calls (getMe, getUpdates, sendMessage, ...) in
Telegram's response shapes and records every sendMessage; the webhook path records JSON posts.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

BOT = {"id": 7000001, "is_bot": True, "first_name": "perpflow-test", "username": "perpflow_test_bot",
       "can_join_groups": False, "can_read_all_group_messages": False,
       "supports_inline_queries": False}  # fmt: skip


class TelegramStandIn:
    """`with TelegramStandIn() as t: t.base_url` ; `t.messages` (texts), `t.webhooks` (bodies)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.webhooks: list[dict] = []
        self.calls: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def _bot_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        data = dict(await request.post()) if request.can_read_body else {}
        if not data and request.content_type == "application/json":
            data = await request.json()
        if method == "getMe":
            return web.json_response({"ok": True, "result": BOT})
        if method == "getUpdates":
            await asyncio.sleep(min(float(data.get("timeout", 0) or 0), 1.0))
            return web.json_response({"ok": True, "result": []})
        if method == "sendMessage":
            self.messages.append(str(data.get("text", "")))
            chat = {"id": int(data.get("chat_id", 0)), "type": "private"}
            msg = {"message_id": len(self.messages), "date": int(time.time()), "chat": chat,
                   "text": data.get("text", ""), "from": BOT}  # fmt: skip
            return web.json_response({"ok": True, "result": msg})
        if method == "getMyCommands":
            return web.json_response({"ok": True, "result": []})
        return web.json_response({"ok": True, "result": True})

    async def _webhook(self, request: web.Request) -> web.Response:
        try:
            self.webhooks.append(await request.json())
        except Exception:  # noqa: BLE001 (form posts)
            self.webhooks.append(dict(await request.post()))
        return web.json_response({"ok": True})

    def __enter__(self) -> TelegramStandIn:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        started = threading.Event()

        async def _start():
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001

        def _run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(_start())
            started.set()
            self._loop.run_forever()

        threading.Thread(target=_run, daemon=True).start()
        started.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
