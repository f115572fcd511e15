"""Load on a venue running in its own process (`perpflow venue serve`), from this process.

The venue and the clients never share an interpreter: the clients' work (and their GIL) is not
on the venue's clock. Clients are asyncio tasks on one aiohttp session (uvloop when installed),
signing each order as ccxt's `binance.sign` does for a private POST: `timestamp` first, then the
request's parameters, urlencoded, HMAC-SHA256 hex appended as `signature`, sent as the form body
with the `X-MBX-APIKEY` header.

Two loads:
- `steady`: open loop. Each client sends one order and one public `/fapi/v1/time` request per
  1/rate s (interleaved, random phase per client); latency runs from the *scheduled* send time,
  so a venue that falls behind shows up in the figure (no coordinated omission).
- `saturate`: closed loop. Each client sends the next request as soon as the last one was
  answered; the completions per second are the most the venue answers with that many clients.

Written by hand: a load generator with signing and a schedule is a few lines of aiohttp; no
load tool installed here signs Binance requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import psutil

ORDER_PATH, TIME_PATH = "/fapi/v1/order", "/fapi/v1/time"
KEY_ENV = "PERPFLOW_BENCH_VENUE_API_KEY"  # the secret goes in PERPFLOW_BENCH_VENUE_API_SECRET


def ccxt_signed(secret: str, params: dict) -> str:
    """The form body ccxt's binance.sign sends for a private POST with `params`."""
    query = urlencode({"timestamp": int(time.time() * 1000), **params})
    return (
        f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def venue_process(datadir: Path, state: Path, key: str, secret: str, wallet: float = 1e9):
    """(url, psutil.Process) of `perpflow venue serve --mode replay` with a signed private API
    for `key`, its ledger at `state`; stopped (SIGTERM, then SIGKILL) on exit."""
    port = _free_port()
    env = {**os.environ, KEY_ENV: key, KEY_ENV[:-4] + "_SECRET": secret}
    cmd = [sys.executable, "-m", "perpflow.cli", "venue", "serve", "--datadir", str(datadir),
           "--mode", "replay", "--port", str(port), "--api-key-env", KEY_ENV,
           "--state", str(state), "--wallet", str(wallet)]  # fmt: skip
    log_path = state.with_suffix(".log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"venue exited ({proc.returncode}): {log_path.read_text()[-2000:]}"
                )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/fapi/v1/ping", timeout=1).read()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"venue did not answer within 90 s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Result:
    """Latencies (s) of answered orders and time requests, the run's length (s) and the CPU
    seconds the venue process and the clients used over it."""

    orders: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    seconds: float = 0.0
    venue_cpu: float = 0.0
    client_cpu: float = 0.0  # this process's CPU seconds over the run (the clients')

    def pct(self, which: str, q: float) -> float:
        a = np.asarray(getattr(self, which))
        return float(np.percentile(a, q) * 1e3) if len(a) else float("nan")

    def rate(self, which: str) -> float:
        return len(getattr(self, which)) / self.seconds if self.seconds else 0.0


class Clients:
    """`n` clients of one API key on one aiohttp session against `url`."""

    def __init__(self, url: str, key: str, secret: str, n: int):
        self.url, self.key, self.secret, self.n = url, key, secret, n
        self._seq = 0
        self._run_id = uuid.uuid4().hex[:8]  # client order ids stay unique across runs

    async def order(self, session, k: int) -> None:
        """One signed market order (sides alternate per client), checked to be accepted."""
        self._seq += 1
        body = ccxt_signed(self.secret, {"symbol": "BTCUSDT", "type": "MARKET",
                                         "side": "BUY" if self._seq % 2 else "SELL",
                                         "quantity": "0.002", "newClientOrderId": f"b{self._run_id}-{self._seq}"})  # fmt: skip
        headers = {"X-MBX-APIKEY": self.key, "Content-Type": "application/x-www-form-urlencoded"}
        async with session.post(self.url + ORDER_PATH, data=body, headers=headers) as r:
            text = await r.read()
            if r.status != 200:
                raise RuntimeError(f"order refused ({r.status}): {text[:300]!r}")

    async def time(self, session, k: int) -> None:
        async with session.get(self.url + TIME_PATH) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"/fapi/v1/time answered {r.status}")

    async def _run(self, body, proc: psutil.Process | None) -> Result:
        import aiohttp

        res = Result()
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            for k in range(self.n):  # warm up: connections open, venue tables loaded
                await self.order(s, k)
                await self.time(s, k)
            cpu0, mine0 = _cpu(proc), time.process_time()
            t0 = time.perf_counter()
            await asyncio.gather(*(body(s, k, res) for k in range(self.n)))
            res.seconds = time.perf_counter() - t0
            res.venue_cpu = _cpu(proc) - cpu0
            res.client_cpu = time.process_time() - mine0
        return res

    def steady(self, rate: float, seconds: float, proc=None) -> Result:
        """Open loop: per client, an order and a time request per 1/rate s for `seconds`."""
        period = 1.0 / rate

        async def client(s, k: int, res: Result) -> None:
            loop = asyncio.get_running_loop()
            start = loop.time() + random.Random(k).random() * period
            for j in range(int(seconds * rate) * 2):
                due = start + j * period / 2
                await asyncio.sleep(max(0.0, due - loop.time()))
                await (self.time(s, k) if j % 2 == 0 else self.order(s, k))
                (res.times if j % 2 == 0 else res.orders).append(loop.time() - due)

        return _run_loop(self._run(client, proc))

    def saturate(self, what: str, seconds: float, proc=None) -> Result:
        """Closed loop: each client sends `what` ("orders" / "times") back to back."""
        send = self.order if what == "orders" else self.time

        async def client(s, k: int, res: Result) -> None:
            end = time.perf_counter() + seconds
            while (t := time.perf_counter()) < end:
                await send(s, k)
                getattr(res, what).append(time.perf_counter() - t)

        return _run_loop(self._run(client, proc))


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


def _run_loop(coro):
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
