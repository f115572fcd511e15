"""The user markets file: real contract specs imported beside a data dir.

`perpflow venue markets import FILE --datadir DIR` reads a ccxt markets dump (what
`ccxt.binanceusdm().load_markets()` or `.fetch_markets()` returns, dumped to JSON) or a raw
Binance `GET /fapi/v1/exchangeInfo` body, validates every USDT-M perpetual in it, and merges its
exchangeInfo symbol entries into `<DIR>/venue_markets.json`, which a venue over DIR loads. A
ccxt market carries the exchange's own entry as `info`; that entry is what is stored, unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

USER_MARKETS = "venue_markets.json"
FORMAT = "perpflow-venue-markets/1"
RECIPE = ("python -c \"import ccxt, json; json.dump(ccxt.binanceusdm().load_markets(), "
          "open('binanceusdm_markets.json', 'w'))\"")  # fmt: skip
# filter type -> fields that must be decimal strings: > 0 (True) or >= 0 (False)
REQUIRED_FILTERS = {
    "PRICE_FILTER": {"tickSize": True, "minPrice": False, "maxPrice": False},
    "LOT_SIZE": {"stepSize": True, "minQty": False, "maxQty": True},
    "MIN_NOTIONAL": {"notional": False},
}


class SymbolEntry(BaseModel):
    """The fields of a Binance USDT-M exchangeInfo symbol entry the venue and ccxt rely on
    (the entry's other fields are kept as they are)."""

    model_config = ConfigDict(extra="allow")
    symbol: str = Field(min_length=1, pattern=r"^[^\s/_]+$")
    contractType: str
    status: str
    baseAsset: str = Field(min_length=1, pattern=r"^[^\s/_]+$")
    quoteAsset: str = Field(min_length=1, pattern=r"^[^\s/_]+$")
    marginAsset: str = Field(min_length=1, pattern=r"^[^\s/_]+$")
    pricePrecision: int = Field(ge=0, le=18)
    quantityPrecision: int = Field(ge=0, le=18)
    filters: list[dict]


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: int
    skipped: int  # not USDT-M perpetuals (spot, dated, inverse, options)

    def __str__(self) -> str:
        return (f"{self.path}: {len(self.added)} added, {len(self.updated)} updated, "
                f"{self.unchanged} unchanged, {self.skipped} skipped (not perpetual USDT-M)")  # fmt: skip


def _filter_problems(filters: list) -> list[tuple[str, str]]:
    """(field, problem) for each required filter field that is missing or not a decimal."""
    by_type = {f.get("filterType"): f for f in filters if isinstance(f, dict)}
    out = []
    for ftype, fields in REQUIRED_FILTERS.items():
        if ftype not in by_type:
            out.append((f"filters.{ftype}", "missing"))
            continue
        for key, positive in fields.items():
            raw = by_type[ftype].get(key)
            try:
                value = Decimal(str(raw)) if isinstance(raw, str | int | float) else None
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite() or value < 0 or (positive and value == 0):
                want = "a positive decimal" if positive else "a decimal >= 0"
                out.append((f"filters.{ftype}.{key}", f"must be {want} string, got {raw!r}"))
    return out


def check_entry(entry: object, where: str) -> dict:
    """`entry` when it is a valid USDT-M exchangeInfo symbol entry; else ValueError naming
    `where` (e.g. `file.json: symbols[3] (BCHUSDT)`) and every bad field."""
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where}: expected an exchangeInfo symbol object, got {type(entry).__name__}"
        )
    problems: list[tuple[str, str]] = []
    try:
        SymbolEntry.model_validate(entry)
    except ValidationError as exc:
        problems += [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
    problems += _filter_problems(entry.get("filters") or [])
    if not problems and entry["quoteAsset"] != entry["marginAsset"]:
        problems.append(("marginAsset", f"{entry['marginAsset']!r} is not the quote asset "
                                        f"{entry['quoteAsset']!r}: not a linear (USDT-M) contract"))  # fmt: skip
    if problems:
        raise ValueError(f"{where}: " + "; ".join(f"{f}: {m}" for f, m in problems))
    return entry


def _entries(path: Path, data: object) -> tuple[list[tuple[str, object]], int]:
    """(where, exchangeInfo entry) of every perpetual in a parsed file, and how many other
    markets it holds."""
    if isinstance(data, dict) and isinstance(data.get("symbols"), list):  # /fapi/v1/exchangeInfo
        rows = [(f"{path}: symbols[{i}] ({s.get('symbol', '?') if isinstance(s, dict) else '?'})", s)
                for i, s in enumerate(data["symbols"])]  # fmt: skip
        if rows and not any(isinstance(s, dict) and "contractType" in s for _, s in rows):
            raise ValueError(f"{path}: its symbols have no contractType: a spot exchangeInfo? "
                             "Use the USDT-M one, https://fapi.binance.com/fapi/v1/exchangeInfo")  # fmt: skip
        keep = [
            (w, s)
            for w, s in rows
            if not isinstance(s, dict) or s.get("contractType") == "PERPETUAL"
        ]
        return keep, len(rows) - len(keep)
    markets = data.values() if isinstance(data, dict) else data if isinstance(data, list) else None
    if not markets or not all(isinstance(m, dict) and "info" in m for m in markets):
        raise ValueError(f"{path}: neither a ccxt markets dump (symbol -> market, each with "
                         "'info') nor a Binance /fapi/v1/exchangeInfo body (with 'symbols'); "
                         f"dump one with: {RECIPE}")  # fmt: skip
    keep = []
    for m in markets:
        if not (m.get("swap") and m.get("linear")):
            continue
        where = f"{path}: market {m.get('symbol', '?')!r}.info"
        info = m["info"]
        if isinstance(info, dict) and m.get("id") not in (None, info.get("symbol")):
            raise ValueError(
                f"{where}.symbol: {info.get('symbol')!r} is not the market id {m['id']!r}"
            )
        keep.append((where, info))
    return keep, len(markets) - len(keep)


def parse_markets_file(path: Path) -> tuple[list[dict], int]:
    """The validated exchangeInfo entries of the USDT-M perpetuals in a ccxt markets dump or an
    exchangeInfo body, and how many other markets it holds. ValueError naming the file and
    field on bad input."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    rows, skipped = _entries(path, data)
    entries = [check_entry(e, where) for where, e in rows]
    if not entries:
        raise ValueError(f"{path}: no USDT-M perpetual in it ({skipped} other markets); dump "
                         f"ccxt.binanceusdm()'s markets: {RECIPE}")  # fmt: skip
    ids = [e["symbol"] for e in entries]
    dup = sorted({s for s in ids if ids.count(s) > 1})
    if dup:
        raise ValueError(f"{path}: symbols listed twice: {', '.join(dup)}")
    return entries, skipped


def read_user_markets(datadir: Path) -> list[dict]:
    """The entries of `<datadir>/venue_markets.json` ([] when there is none), validated:
    ValueError naming the file and field when it is damaged."""
    path = Path(datadir) / USER_MARKETS
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc}); re-create it with `perpflow venue markets "
                         "import`") from None  # fmt: skip
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("symbols"), list)
    ):
        raise ValueError(f"{path}: not a perpflow venue markets file (format {FORMAT!r} with "
                         "'symbols'); re-create it with `perpflow venue markets import`")  # fmt: skip
    return [check_entry(e, f"{path}: symbols[{i}]") for i, e in enumerate(data["symbols"])]


def import_markets(src: Path, datadir: Path) -> ImportSummary:
    """Merge the perpetuals of `src` into `<datadir>/venue_markets.json` (an entry of the same
    symbol is replaced, the others kept); atomic write."""
    datadir = Path(datadir)
    if not datadir.is_dir():
        raise ValueError(f"{datadir}: no such data dir (the venue's --datadir, holding futures/)")
    new, skipped = parse_markets_file(src)
    old = {e["symbol"]: e for e in read_user_markets(datadir)}
    added = tuple(e["symbol"] for e in new if e["symbol"] not in old)
    updated = tuple(e["symbol"] for e in new if e["symbol"] in old and old[e["symbol"]] != e)
    merged = {**old, **{e["symbol"]: e for e in new}}
    body = {
        "format": FORMAT,
        "note": "USDT-M contract specs served by perpflow's local exchange over this data dir; "
                "written by `perpflow venue markets import` (re-import to update)",
        "symbols": [merged[s] for s in sorted(merged)],
    }  # fmt: skip
    out = datadir / USER_MARKETS
    fd, tmp = tempfile.mkstemp(dir=datadir, prefix=f".{USER_MARKETS}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("imported %d perpetuals from %s into %s", len(new), src, out)
    return ImportSummary(out, added, updated, len(new) - len(added) - len(updated), skipped)
