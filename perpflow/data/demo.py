"""The embedded demo market: a seeded, SYNTHETIC Binance-like USDT-M perpetual market.

It exists so a fresh clone with no internet can backtest and test end to end; it is labelled
synthetic wherever it is used and must never be used to judge a strategy (real data for that is
in ../shared/data or comes from `freqtrade download-data`). Written by hand: no library generates
perpetual markets with planted liquidity events and ground truth.

Writes, under `<outdir>/futures/`, Freqtrade's layout for each pair P (e.g. `BTC_USDT_USDT`):
`P-1m-futures`, `P-5m-futures`, `P-1h-futures` (OHLCV; 5m and 1h aggregate the 1m path),
`P-1h-mark` (mark = last x (1 + premium)), `P-1h-premiumIndex` (the premium itself, OHLC of
the 1m premium), `P-1h-funding_rate` (`date, funding_rate`, one row per
8h settlement, Binance's formula from the premium), `P-5m-open_interest` and
`P-1h-open_interest` (`date, open_interest_amount, open_interest_value`, OI at `date`).
Plus `<outdir>/demo_events.parquet`, the ground truth of planted events, one row each:
  pair        e.g. "BTC/USDT:USDT"
  kind        pool_high | pool_low | sweep_high | sweep_low | cascade_down | cascade_up
  start, end  UTC timestamps: pools first touch -> sweep; sweeps sweep -> outcome resolved;
              cascades first -> last minute
  level       the pool / swept price level (NaN for cascades)
  touches     number of equal highs/lows in the pool (pools and sweeps; 0 for cascades)
  outcome     "continuation" | "reversal" for sweeps, None otherwise
  sweep_time  open time of the 5m candle that swept the pool (pools and sweeps), else NaT
For BTC and ETH also the dated quarterly contracts, Freqtrade's name for `BTC/USDT:USDT-260626`:
`BTC_USDT_USDT-260626-1h-futures` (1h, from 180 days before delivery; see `_quarterlies`).
And `<outdir>/store/`: liquidation orders in perpflow's event store (`liquidations`, one
coverage record for the whole span), dense in the cascades and following big minutes.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data import demo_paths as dp

DEMO_PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
DEMO_START = "2026-05-01"
MARKER = "DEMO_DATA_IS_SYNTHETIC.txt"
# price, tick, beta to the market factor, idiosyncratic vol share, 1m volume, starting OI (base)
_SPECS = {
    "BTC": dict(price=95_000.0, tick=0.1, beta=1.0, idio=0.0, volume=45.0, oi=85_000.0),
    "ETH": dict(price=3_300.0, tick=0.01, beta=1.25, idio=0.55, volume=900.0, oi=2_100_000.0),
    "SOL": dict(price=180.0, tick=0.01, beta=1.6, idio=0.75, volume=12_000.0, oi=8_500_000.0),
}
SIGMA_1M = 0.0007  # market 1m log-return stdev at multiplier 1 (~0.16% per 5m)


@dataclass(frozen=True)
class DemoSummary:
    outdir: Path
    files: tuple[str, ...]
    rows: dict
    events: dict
    seconds: float

    def __str__(self) -> str:
        ev = ", ".join(f"{k}={v}" for k, v in self.events.items())
        return f"{len(self.files)} files in {self.seconds:.1f}s; events: {ev}"


def _base(pair: str) -> str:
    if pair not in DEMO_PAIRS:
        raise ValueError(f"unknown demo pair {pair!r}; the demo market has {list(DEMO_PAIRS)}")
    return pair.split("/")[0]


def _write_feather(df: pd.DataFrame, path: Path) -> None:
    """Atomic write: temp file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.reset_index(drop=True).to_feather(tmp, compression="lz4")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _market(rng, minutes: pd.DatetimeIndex, days: int):
    """Market factor log returns, per-minute sigma, and the planted cascades."""
    n = len(minutes)
    vol, drift = dp.daily_regimes(rng, days)
    sigma = SIGMA_1M * dp.session_multiplier(minutes) * vol
    r = drift + sigma * dp.unit_t(rng, n)
    cascades = dp.plan_cascades(rng, n)
    for c in cascades:
        sl = slice(c.start, c.start + c.length)
        r[sl] = c.move / c.length + 2.0 * sigma[sl] * dp.unit_t(rng, c.length)
        # cascades overshoot: about half of the move retraces over the next 6 hours
        after = slice(c.start + c.length, c.start + c.length + 360)
        r[after] -= 0.5 * c.move / 360
    r -= r.mean()  # the period ends where it started: regimes in between, no net trend
    return r, sigma, cascades


def _plant_sweeps(rng, r: np.ndarray, sigma: np.ndarray, cascades, days: int) -> list[dp.Sweep]:
    """Replace return stretches with designed pools+sweeps, avoiding cascades (one per ~5 days)."""
    busy = np.zeros(len(r), dtype=bool)
    for c in cascades:
        busy[max(0, c.start - 3 * 1440) : c.start + c.length + 120] = True
    out, start = [], int(rng.integers(1, 3)) * 1440
    typical = float(np.median(sigma))
    while start < len(r) - 3 * 1440:
        sw = dp.design_sweep(rng, start, typical, high=bool(rng.random() < 0.5))
        if not busy[sw.start : sw.end + 1].any():
            r[sw.start + 1 : sw.end + 1] = np.diff(sw.path)
            out.append(sw)
        start = sw.end + int(rng.integers(2, 5)) * 1440
    return out


def _ohlcv(rng, logp, r, sigma, spec, sweeps: list[dp.Sweep]) -> pd.DataFrame:
    """1m candles from the log path: wicks from sigma, planted sweep wicks, tick rounding."""
    close = np.exp(logp)
    open_ = np.r_[close[0] / np.exp(r[0]), close[:-1]]
    wick_up = np.abs(rng.normal(0.0, 0.45, len(r))) * sigma
    wick_dn = np.abs(rng.normal(0.0, 0.45, len(r))) * sigma
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_dn)
    for sw in sweeps:
        level = np.exp(logp[sw.start] + sw.offset)
        pre = slice(sw.start, sw.sweep)
        if sw.high:
            high[pre] = np.minimum(high[pre], level * np.exp(0.0004))
            high[sw.sweep] = level * np.exp(sw.wick)
        else:
            low[pre] = np.maximum(low[pre], level * np.exp(-0.0004))
            low[sw.sweep] = level * np.exp(-sw.wick)
    tick = spec["tick"]
    dec = max(0, -int(np.floor(np.log10(tick))))
    o, h, lo, c = (np.round(np.round(x / tick) * tick, dec) for x in (open_, high, low, close))
    h = np.maximum(h, np.maximum(o, c))
    lo = np.minimum(lo, np.minimum(o, c))
    activity = np.abs(r) / np.maximum(sigma, 1e-12)
    vol = (
        spec["volume"] * (sigma / SIGMA_1M) * (0.4 + 0.6 * activity) * rng.lognormal(0, 0.4, len(r))
    )
    for sw in sweeps:
        vol[sw.sweep] *= 5.0
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": np.round(vol, 3)})


def _aggregate(df1m: pd.DataFrame, dates: pd.DatetimeIndex, k: int) -> pd.DataFrame:
    """Exact OHLCV aggregation of k consecutive 1m rows (n is a multiple of k)."""
    a = {c: df1m[c].to_numpy().reshape(-1, k) for c in df1m.columns}
    return pd.DataFrame({
        "date": dates[::k], "open": a["open"][:, 0], "high": a["high"].max(1),
        "low": a["low"].min(1), "close": a["close"][:, -1], "volume": a["volume"].sum(1).round(3),
    })  # fmt: skip


def _premium(rng, r: np.ndarray) -> np.ndarray:
    """Perp premium per minute: follows the 8h trend (euphoria/fear) plus AR(1) noise."""
    trend = pd.Series(r).ewm(halflife=240, adjust=False).mean().to_numpy() * 480
    noise = pd.Series(rng.normal(0, 0.00004, len(r))).ewm(halflife=120, adjust=False).mean()
    return 0.00008 + 0.03 * trend + noise.to_numpy() * 8


def _funding(dates: pd.DatetimeIndex, premium: np.ndarray) -> pd.DataFrame:
    """Binance formula per 8h settlement: F = P + clamp(0.01% - P, -0.05%, 0.05%), |F| <= 0.75%."""
    p8 = premium.reshape(-1, 480).mean(1)
    rate = np.clip(p8 + np.clip(0.0001 - p8, -0.0005, 0.0005), -0.0075, 0.0075)
    settle = (dates[::480] + pd.Timedelta(hours=8)).as_unit("ms")  # interval i settles at its end
    return pd.DataFrame({"date": settle, "funding_rate": np.round(rate, 8)})


def _open_interest(rng, r, sigma, spec, cascades) -> np.ndarray:
    """OI in base units: builds in trends, mean-reverts to a baseline over days, drops in cascades.

    log OI deviation is an AR(1) (scipy `lfilter`) driven by trend participation, noise and
    cascade liquidations.
    """
    from scipy.signal import lfilter

    n = len(r)
    trend = np.abs(pd.Series(r).rolling(240, min_periods=1).sum().to_numpy())
    shock = 0.02 * (trend - trend.mean()) / 240 + rng.normal(0, 0.0004, n)
    for c in cascades:
        shock[c.start : c.start + c.length] -= c.oi_drop / c.length
    keep = 1.0 - 1.0 / (3 * 1440)  # deviations decay over ~3 days
    dev = lfilter([1.0], [1.0, -keep], shock)
    return spec["oi"] * np.exp(dev)


def _events(pair, minutes, logp, sweeps, cascades) -> list[dict]:
    rows = []
    for sw in sweeps:
        level = float(np.exp(logp[sw.start] + sw.offset))
        t5 = minutes[sw.sweep].floor("5min")
        side = "high" if sw.high else "low"
        common = dict(pair=pair, level=level, touches=len(sw.touches), sweep_time=t5)
        rows.append(dict(kind=f"pool_{side}", start=minutes[sw.touches[0]], end=t5,
                         outcome=None, **common))  # fmt: skip
        rows.append(dict(kind=f"sweep_{side}", start=t5, end=minutes[sw.end],
                         outcome="reversal" if sw.reversal else "continuation", **common))  # fmt: skip
    for c in cascades:
        rows.append(dict(pair=pair, kind="cascade_down" if c.move < 0 else "cascade_up",
                         start=minutes[c.start], end=minutes[c.start + c.length - 1],
                         level=float("nan"), touches=0, outcome=None, sweep_time=pd.NaT))  # fmt: skip
    return rows


def _liquidations(
    rng, minutes, one: pd.DataFrame, r, sigma, spec, cascades, symbol
) -> pd.DataFrame:
    """Liquidation orders: a background that grows with big minutes, dense bursts in cascades.

    Count per minute ~ Poisson(0.15 x (1 + 4 x excess |r|/sigma)), 6 per minute in a cascade.
    A down minute mostly liquidates longs (sell orders). Notional is log-normal around
    0.0005% of the open interest value; cascade orders are 4x larger. Prices lie inside
    the minute's range.
    """
    n = len(r)
    z = r / sigma
    lam = 0.15 * (1.0 + 4.0 * np.clip(np.abs(z) - 1.0, 0.0, None))
    size = np.ones(n)
    for c in cascades:
        sl = slice(c.start, c.start + c.length)
        lam[sl], size[sl] = 6.0, 4.0
    count = rng.poisson(lam)
    at = np.repeat(np.arange(n), count)
    k = len(at)
    p_long = 1.0 / (1.0 + np.exp(3.0 * z[at]))  # P(a long is liquidated): high when r < 0
    side = np.where(rng.random(k) < p_long, "sell", "buy")
    lo, hi = one["low"].to_numpy()[at], one["high"].to_numpy()[at]
    price = np.round(lo + rng.random(k) * (hi - lo), 8)
    notional = spec["oi"] * spec["price"] * 5e-6 * size[at] * rng.lognormal(0.0, 1.0, k)
    qty = np.round(notional / price, 6)
    ts = minutes[at] + pd.to_timedelta(rng.integers(0, 60_000, k), unit="ms")
    return pd.DataFrame({"exchange": "binance", "symbol": symbol, "side": side, "price": price,
                         "qty": qty, "notional": np.round(qty * price, 4), "ts_event": ts,
                         "ts_recv": ts})  # fmt: skip


QUARTERLY_BASES = ("BTC", "ETH")  # Binance USDT-M lists quarterlies for these


def quarter_expiries(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Binance quarterly deliveries (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC) after `first`
    up to half a year past `last`."""
    months = pd.date_range(first.normalize() - pd.offsets.MonthBegin(1),
                           last + pd.Timedelta(days=200), freq="MS")  # fmt: skip
    out = []
    for m in months[months.month.isin([3, 6, 9, 12])]:
        end = m + pd.offsets.MonthEnd(0)
        friday = end - pd.Timedelta(days=(end.day_of_week - 4) % 7)
        expiry = friday + pd.Timedelta(hours=8)
        if expiry > first:
            out.append(expiry)
    return out


def _quarterlies(rng, minutes, one: pd.DataFrame, spec) -> dict[str, pd.DataFrame]:
    """1h candles of the dated quarterly contracts: perp x exp(b x years to expiry), where the
    annualised basis b is an AR(1) around 7% (contango) with +-4% swings; each contract trades
    from 180 days before its delivery and converges to the perp at delivery."""
    from scipy.signal import lfilter

    n = len(minutes)
    keep = 1.0 - 1.0 / (5 * 1440)  # basis regimes last days
    noise = lfilter([1.0], [1.0, -keep], rng.normal(0.0, 1.0, n))
    b = 0.07 + 0.04 * noise / max(noise.std(), 1e-12)
    tick = spec["tick"]
    dec = max(0, -int(np.floor(np.log10(tick))))
    out = {}
    for expiry in quarter_expiries(minutes[0], minutes[-1]):
        lo = int(np.searchsorted(minutes, expiry - pd.Timedelta(days=180)))
        hi = int(np.searchsorted(minutes, expiry))
        lo, hi = -(-lo // 60) * 60, (hi // 60) * 60
        if hi - lo < 1440:
            continue
        years = (expiry - minutes[lo:hi]).total_seconds().to_numpy() / (365 * 86400)
        factor = np.exp(b[lo:hi] * years)
        px = {c: np.round(np.round(one[c].to_numpy()[lo:hi] * factor / tick) * tick, dec)
              for c in ("open", "high", "low", "close")}  # fmt: skip
        m1 = pd.DataFrame({**px, "volume": one["volume"].to_numpy()[lo:hi] * 0.05})
        out[f"{expiry:%y%m%d}-1h-futures"] = _aggregate(m1, minutes[lo:hi], 60)
    return out


def _write_liquidations(outdir: Path, frames: list[pd.DataFrame], minutes) -> None:
    """The demo's liquidations into `<outdir>/store`, with one coverage record for the span."""
    from perpflow.data.store import write_coverage, write_events

    root = Path(outdir) / "store"
    for ev in frames:
        write_events(root, "liquidations", ev)
    write_coverage(root, "liquidation", "binance", minutes[0],
                   minutes[-1] + pd.Timedelta(minutes=1))  # fmt: skip


def generate_demo_market(
    outdir: Path, *, days: int = 150, seed: int = 7, pairs=DEMO_PAIRS, start: str = DEMO_START,
    progress: bool = False,
) -> DemoSummary:  # fmt: skip
    """Write the SYNTHETIC demo market for `pairs` over `days` from `start` (UTC) to `outdir`."""
    t0 = time.perf_counter()
    if days < 30:
        raise ValueError(f"days must be >= 30 (the strategies need warm-up), got {days}")
    bases = [_base(p) for p in pairs]
    fut = Path(outdir) / "futures"
    fut.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    minutes = pd.date_range(start, periods=days * 1440, freq="1min", tz="UTC", unit="ms")
    market, sigma, cascades = _market(rng, minutes, days)
    written, rows, events, liqs = [], {}, [], []
    bar = _progress(pairs, progress)
    for pair, base in zip(pairs, bases, strict=True):
        spec = _SPECS[base]
        prng = np.random.default_rng([seed, sum(map(ord, base))])
        s_pair = sigma * np.hypot(spec["beta"], spec["idio"])
        r = spec["beta"] * market + spec["idio"] * sigma * dp.unit_t(prng, len(market))
        sweeps = _plant_sweeps(prng, r, s_pair, cascades, days)
        logp = np.log(spec["price"]) + np.cumsum(r)
        one = _ohlcv(prng, logp, r, s_pair, spec, sweeps)
        prem = _premium(prng, r)
        oi = _open_interest(prng, r, s_pair, spec, cascades)
        frames = _pair_frames(minutes, one, prem, oi)
        if base in QUARTERLY_BASES:
            frames |= _quarterlies(prng, minutes, one, spec)
        for name, df in frames.items():
            path = fut / f"{base}_USDT_USDT-{name}.feather"
            _write_feather(df, path)
            written.append(path.name)
            rows[path.name] = len(df)
        events += _events(pair, minutes, logp, sweeps, cascades)
        liqs.append(_liquidations(prng, minutes, one, r, s_pair, spec, cascades, f"{base}USDT"))
        bar.update(1)
    bar.close()
    _write_liquidations(outdir, liqs, minutes)
    ev = pd.DataFrame(events)
    _write_parquet(ev, Path(outdir) / "demo_events.parquet")
    (fut / MARKER).write_text(
        f"SYNTHETIC DATA generated by `perpflow demo-data` (seed {seed}). Not real market data:\n"
        "use it to exercise code, never to judge a strategy.\n"
    )
    counts = ev.groupby("kind").size().to_dict() if len(ev) else {}
    return DemoSummary(Path(outdir), tuple(written), rows, counts, time.perf_counter() - t0)


def _pair_frames(minutes, one: pd.DataFrame, prem: np.ndarray, oi: np.ndarray) -> dict:
    m1 = pd.concat([pd.DataFrame({"date": minutes}), one], axis=1)
    m5 = _aggregate(one, minutes, 5)
    h1 = _aggregate(one, minutes, 60)
    mark1 = one[["open", "high", "low", "close"]].mul(1.0 + prem, axis=0).assign(volume=0.0)
    mark = _aggregate(mark1, minutes, 60).assign(volume=0.0)
    for c in ("open", "high", "low", "close"):
        mark[c] = mark[c].round(6)
    close = one["close"].to_numpy()
    oi5 = pd.DataFrame({"date": minutes[::5], "open_interest_amount": np.round(oi[::5], 3),
                        "open_interest_value": np.round(oi[::5] * close[::5], 2)})  # fmt: skip
    oi1h = pd.DataFrame({"date": minutes[::60], "open_interest_amount": np.round(oi[::60], 3),
                         "open_interest_value": np.round(oi[::60] * close[::60], 2)})  # fmt: skip
    prem1h = _aggregate(pd.DataFrame({"open": prem, "high": prem, "low": prem, "close": prem,
                                      "volume": 0.0}), minutes, 60)  # fmt: skip
    for c in ("open", "high", "low", "close"):
        prem1h[c] = prem1h[c].round(8)
    return {"1m-futures": m1, "5m-futures": m5, "1h-futures": h1, "1h-mark": mark,
            "1h-premiumIndex": prem1h.assign(volume=0.0),
            "1h-funding_rate": _funding(minutes, prem), "5m-open_interest": oi5,
            "1h-open_interest": oi1h}  # fmt: skip


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _progress(pairs, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=len(pairs), desc="demo market", unit="pair", disable=not enabled)
