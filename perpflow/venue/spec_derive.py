"""Contract specs derived from stored data, for pairs of a data dir that no spec source knows.

Written by hand: no library guesses exchange filters from candles. The rules, each reported
back as an assumed value:
  tick size      10^-d, d the fewest decimals (0..8) that write the stored prices; beyond 8,
                 10^(floor(log10(median close)) - 5), i.e. 5-6 significant figures
  lot step       10^-d from the stored volumes the same way (a candle's volume is a sum of
                 trade quantities, each a multiple of the step); beyond 8, the largest power of
                 ten worth at most 1 quote unit; min qty = the step
  max qty        the power of ten nearest 100 M quote units (market orders: 10 M), as
                 Binance's BTCUSDT (1000 / 120 BTC)
  max price      a power of ten >= 100x the highest recent price; min price = the tick
  min notional   5 quote units (Binance USDT-M's smallest)
  assets         base, quote and margin asset from the file name (`BCH_USDT_USDT`)
Only the last SAMPLE_ROWS candles of the finest stored `futures` file are read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from perpflow.venue.series import tf_ms

PERP_FILE_RE = re.compile(r"^([A-Z0-9]+)_([A-Z0-9]+)_([A-Z0-9]+)-(\d+[mhdw])-futures\.feather$")
MAX_DECIMALS = 8
SAMPLE_ROWS = 20_000  # the last rows of the finest file: every decimal in use shows up there
_COLUMNS = ["date", "open", "high", "low", "close", "volume"]
MIN_NOTIONAL = 5
_PERPETUAL_DELIVERY = 4133404800000  # Binance's deliveryDate of every perpetual (2100-12-25)
_TEMPLATE = {  # the fields every Binance USDT-M perpetual carries, at their common values
    "contractType": "PERPETUAL", "deliveryDate": _PERPETUAL_DELIVERY, "status": "TRADING",
    "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAssetPrecision": 8,
    "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
    "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
    "maxMoveOrderLimit": 10000,
    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                   "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"], "permissionSets": ["GRID", "COPY"],
}  # fmt: skip


def stored_perpetuals(futures_dir: Path) -> dict[str, Path]:
    """Freqtrade file prefix (`BCH_USDT_USDT`) -> its finest stored `*-futures.feather` file,
    for every linear perpetual (quote asset = margin asset) in `futures_dir`."""
    finest: dict[str, tuple[int, Path]] = {}
    for p in sorted(Path(futures_dir).glob("*-futures.feather")):
        m = PERP_FILE_RE.match(p.name)
        if not m or m[2] != m[3] or not tf_ms(m[4]):
            continue
        prefix, tf = f"{m[1]}_{m[2]}_{m[3]}", tf_ms(m[4])
        if prefix not in finest or tf < finest[prefix][0]:
            finest[prefix] = (tf, p)
    return {k: v[1] for k, v in finest.items()}


def decimals(values: np.ndarray, max_dp: int = MAX_DECIMALS) -> int | None:
    """The fewest decimals (0..max_dp) that write at least 99.9% of the non-zero finite
    `values` (float noise of the rest tolerated), or None when more are needed."""
    v = np.abs(values[np.isfinite(values) & (values != 0)])
    if len(v) == 0:
        return None
    for dp in range(max_dp + 1):
        scaled = v * 10.0**dp
        off = np.abs(scaled - np.round(scaled))
        if np.mean(off <= 1e-6 + scaled * 1e-13) >= 0.999:
            return dp
    return None


def _fmt(x: float, dp: int) -> str:
    return f"{x:.{max(dp, 0)}f}"


def _pow10(exp: int) -> tuple[float, int]:
    """10^exp and the decimals it takes to write it."""
    return 10.0**exp, max(0, -exp)


def _read_tail(path: Path, rows: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The last >= `rows` candles of a Freqtrade feather file and its first candle's date,
    reading only the record batches needed (a year of 1m candles is ~8 batches)."""
    try:
        with pa.memory_map(str(path)) as src:
            reader = ipc.open_file(src)
            n = reader.num_record_batches
            batches = []
            for i in range(n - 1, -1, -1):
                batches.insert(0, reader.get_batch(i).select(_COLUMNS))
                if sum(b.num_rows for b in batches) >= rows:
                    break
            first = reader.get_batch(0).column("date")[0].as_py() if n else None
        df = (
            pa.Table.from_batches(batches, schema=batches[0].schema).to_pandas()
            if batches
            else None
        )
    except (pa.ArrowInvalid, KeyError):  # an old (v1) feather file or a missing column
        df = pd.read_feather(path, columns=_COLUMNS)
        first = df["date"].min() if len(df) else None
    if df is None:
        df = pd.DataFrame(columns=_COLUMNS)
    return df.tail(rows).reset_index(drop=True), pd.Timestamp(first) if first else pd.NaT


def _read_candles(prefix: str, path: Path) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The last candles of `path` and its first date; ValueError naming the file when they
    cannot serve as a source."""
    pair = "{}/{}:{}".format(*prefix.split("_"))
    hint = "fix or remove the file, or import the spec with `perpflow venue markets import`"
    try:
        df, first = _read_tail(path, SAMPLE_ROWS)
    except (KeyError, ValueError, OSError) as exc:  # pyarrow raises these for a bad column list
        raise ValueError(f"{path}: cannot read candles to derive {pair}'s contract spec "
                         f"({exc}); {hint}") from None  # fmt: skip
    close = df["close"].to_numpy(dtype="float64")
    if not (np.isfinite(close) & (close > 0)).any():
        raise ValueError(
            f"{path}: no positive prices to derive {pair}'s contract spec from; {hint}"
        )
    return df, first


def _grid(
    values: np.ndarray, fallback_exp: int, what: str, fallback: str
) -> tuple[float, int, str]:
    """(size, decimals, rule) of the grid `values` lie on: 10^-d from their decimals, else
    10^fallback_exp."""
    dp = decimals(values)
    if dp is None:
        size, dp = _pow10(fallback_exp)
        return size, dp, f"{what} have > {MAX_DECIMALS} decimals or none: {fallback}"
    return 10.0**-dp, dp, f"the stored {what} are multiples of {_fmt(10.0**-dp, dp)}"


def derive_spec(prefix: str, path: Path) -> tuple[dict, dict[str, str]]:
    """The exchangeInfo entry of the perpetual stored as `prefix` (`BCH_USDT_USDT`), derived
    from its candles in `path`, and {field: "value (rule)"} for every value assumed.
    Raises ValueError naming the file when it holds no prices to derive from."""
    base, quote, margin = prefix.split("_")
    tail, first = _read_candles(prefix, path)
    close = tail["close"].to_numpy(dtype="float64")
    price = float(np.median(close[np.isfinite(close) & (close > 0)]))
    prices = tail[["open", "high", "low", "close"]].to_numpy(dtype="float64").ravel()
    tick, pdp, tick_rule = _grid(prices, math.floor(math.log10(price)) - 5, "prices",
                                 "5-6 significant figures")  # fmt: skip
    step, qdp, step_rule = _grid(tail["volume"].to_numpy(dtype="float64"),
                                 math.floor(math.log10(1.0 / price)), "volumes",
                                 f"a step worth <= 1 {quote}")  # fmt: skip
    max_qty, max_dp = _pow10(max(-qdp, round(math.log10(1e8 / price))))
    mkt_qty, mkt_dp = _pow10(max(-qdp, round(math.log10(1e7 / price))))
    top = float(np.nanmax(tail["high"].to_numpy(dtype="float64")))
    max_price, _ = _pow10(max(0, math.ceil(math.log10(max(top, price) * 100))))
    symbol = f"{base}{quote}"
    t, st = _fmt(tick, pdp), _fmt(step, qdp)
    spec = {
        "symbol": symbol, "pair": symbol, **_TEMPLATE,
        "onboardDate": 0 if pd.isna(first) else int(first.value // 1_000_000),
        "baseAsset": base, "quoteAsset": quote, "marginAsset": margin,
        "pricePrecision": pdp, "quantityPrecision": qdp,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": t, "maxPrice": _fmt(max_price, 0),
             "tickSize": t},
            {"filterType": "LOT_SIZE", "minQty": st, "maxQty": _fmt(max_qty, max_dp), "stepSize": st},
            {"filterType": "MARKET_LOT_SIZE", "minQty": st, "maxQty": _fmt(mkt_qty, mkt_dp),
             "stepSize": st},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": str(MIN_NOTIONAL)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
    }  # fmt: skip
    assumed = {
        "tickSize": f"{t} ({tick_rule})",
        "stepSize/minQty": f"{st} ({step_rule})",
        "maxQty": f"{_fmt(max_qty, max_dp)} limit / {_fmt(mkt_qty, mkt_dp)} market orders "
                  f"(the power of ten nearest 100 M / 10 M {quote})",
        "maxPrice": f"{_fmt(max_price, 0)} (a power of ten >= 100x the highest recent price)",
        "minNotional": f"{MIN_NOTIONAL} {quote} (Binance USDT-M's smallest)",
        "assets": f"base {base}, quote {quote}, margin {margin} (file name {prefix})",
        "maintMarginPercent": "2.5 (Binance's common value)",
    }  # fmt: skip
    return spec, assumed
