"""The recorder's websocket intake on ccxt.pro's clients: frames to handlers in one step.

Per text frame ccxt.pro's `Client` runs `receive_loop` (drain aiohttp's buffer), `handle_message`
(stamp `last_message_at`, pick by frame type), `handle_text_or_binary_message` (parse) and the
exchange's `handle_message` (pick a handler by event): under a flood of tens of thousands of
frames a second, the layers themselves (and the `Client.buffer` property, five attribute checks,
read twice per frame while draining) were a fifth of the recorder's CPU. `tap_wire` makes every
client the exchange creates from now on go from frame to handler directly for plain events,
and everything else the way ccxt does.

Written by hand: ccxt.pro has no hook between the socket and its parser. `receive_loop` is
ccxt.pro 4.5.90's `Client.receive_loop` with the buffer read once per drain.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import WSMsgType
from ccxt import NetworkError
from ccxt.async_support.base.ws.client import MSG_SIZE_OVERHEAD

# keys of a wrapped or control message (`{"stream": ..., "data": ...}`, replies): not a plain event
WRAPPED = frozenset(("stream", "data", "event", "id", "status", "error"))


def tap_wire(ex, handlers: dict) -> None:
    """Hand plain JSON events straight from each websocket client to `handlers` (event type `e`
    -> `handler(client, text, message)`), with the text as received as well as parsed.

    ccxt.pro's `Client.handle_message` stamps `last_message_at` and, for a text frame,
    `handle_text_or_binary_message` parses it (orjson) and passes it to the exchange's
    `handle_message`. Every client the exchange makes from now on (`Exchange.client`) does the
    same in one step, except that an unwrapped event (no `stream`, `data`, `event`, `id`,
    `status` or `error` key) of a type in `handlers` goes to its handler with the text, so the
    recorder keeps the text instead of the parsed message (`record_ccxt.Messages`). Other
    frames (binary, ping, close, non-JSON text) and verbose clients go through ccxt's methods."""
    make = ex.client

    def client(url):
        c = make(url)
        if getattr(c, "_perpflow_wire", None) is None:
            c._perpflow_wire = c.handle_message
            c.handle_message = _frames(c, handlers, c.handle_message)
            c.receive_loop = _receive_loop(c, c.receive_loop)
        return c

    ex.client = client


def _frames(c, handlers: dict, general):
    """`c.handle_message` for `tap_wire`."""
    text_frame = WSMsgType.TEXT

    def handle_message(frame):
        data = frame.data
        if frame.type != text_frame or type(data) is not str or data[:1] != "{" or c.verbose:
            return general(frame)
        c.last_message_at = time.time_ns() // 1_000_000
        message = orjson.loads(data)
        if type(message) is dict:
            handler = handlers.get(message.get("e"))
            if handler is not None and WRAPPED.isdisjoint(message):
                return handler(c, data, message)
        return c.on_message_callback(c, message)

    return handle_message


def _receive_loop(c, general):
    """ccxt.pro's `Client.receive_loop` reading the buffer once per drain (a closed or verbose
    client: ccxt's own)."""

    def after_interrupt(resolved):
        if resolved.cancelled():  # shut down or reconnecting
            return
        exception = resolved.exception()
        if exception is None:
            c.handle_message(resolved.result())
            c.asyncio_loop.call_soon(c.receive_loop)
        else:
            c.reject(NetworkError(str(exception)))

    def receive_loop():
        if c.verbose or c.closed():
            return general()
        buf = c.buffer
        if buf and len(buf) > 1:  # drain what aiohttp already holds
            size_delta, handle, pop = 0, c.handle_message, buf.popleft
            while len(buf) > 1:
                message, size = pop()
                size_delta += size + MSG_SIZE_OVERHEAD
                handle(message)
            # the size of what was drained, on the message left (aiohttp's flow control)
            buf[0] = (buf[0][0], buf[0][1] + size_delta)
        c.asyncio_loop.create_task(c.receive()).add_done_callback(after_interrupt)

    return receive_loop
