"""The local exchange's websocket fan-out with one client that never reads.

A depth stream at N x speed goes to a client that reads everything; a second client completes
the handshake and never reads again (a 4 KB receive buffer). Reported for the reading client,
without and then with the stuck client in the same run (the baseline): messages received,
the longest silence between two messages and the delivery rate, and whether the exchange cut
the stuck client. Before bounded send queues (issue 15) the reading client got
nothing from the moment the stuck client's buffers filled (~4 MB) for as long as it stayed
connected: 28 s of a 40 s run at 1,000 messages a second.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the tests' stuck client and small market
    sys.path.insert(0, str(REPO))


async def _read(url: str, seconds: float) -> tuple[int, float]:
    """Messages a reading client got in `seconds`, and its longest silence."""
    import aiohttp

    n, worst = 0, 0.0
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        t0 = last = time.monotonic()
        while (left := seconds - (time.monotonic() - t0)) > 0:
            try:
                msg = await asyncio.wait_for(ws.receive(), timeout=left)
            except TimeoutError:
                break
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.monotonic()
            worst, last, n = max(worst, now - last), now, n + 1
        worst = max(worst, time.monotonic() - last)
    return n, worst


def run(datadir: Path, seconds: float, speed: float, stuck: bool) -> dict:
    from perpflow.venue.depth import DepthFeed, synthetic_stream
    from perpflow.venue.server import VenueServer
    from tests.venue.test_stream_fanout import stuck_client

    b, a, ups = synthetic_stream(100_000.0, tick=0.1, seed=2)
    feed = DepthFeed({"BTCUSDT": (b, a, ups)}, speed=speed, ledger=0)
    with VenueServer(datadir, depth=feed) as server:
        sock = stuck_client(server.port) if stuck else None
        n, worst = asyncio.run(_read(f"{server.ws_url}/btcusdt@depth", seconds))
        if sock is not None:
            sock.close()
    return {"messages": n, "due": int(seconds * speed * 10), "longest_silence_s": worst,
            "rate": n / seconds, "stuck_cut": bool(server.hub.cut)}  # fmt: skip


def main(seconds: float = 30.0, speed: float = 100.0) -> dict:
    from tests.venue.private_env import write_market

    with tempfile.TemporaryDirectory() as tmp:
        datadir = write_market(Path(tmp))
        base = run(datadir, seconds, speed, stuck=False)
        with_stuck = run(datadir, seconds, speed, stuck=True)
    for name, r in (("alone", base), ("one stuck client", with_stuck)):
        print(f"reading client, {name}: {r['messages']:,} of ~{r['due']:,} messages in {seconds:.0f} s "
              f"({r['rate']:,.0f}/s), longest silence {r['longest_silence_s'] * 1000:.0f} ms")  # fmt: skip
    print(f"stuck client cut: {with_stuck['stuck_cut']}; delivered with it / alone: "
          f"{with_stuck['messages'] / max(base['messages'], 1):.3f}")  # fmt: skip
    return {"alone": base, "stuck": with_stuck}


if __name__ == "__main__":
    main()
