"""The private side's ledger: accounts, orders, algo (conditional) orders, positions, fills and
income, held in memory and persisted atomically to sqlite (WAL) at a `state` path.

Every request's changes are one transaction (`commit`), written before the venue answers, so an
acknowledged order survives a crash and a restarted venue resumes where it stopped. Rows are
JSON documents keyed by id (mutable records are upserted, fills and income appended).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import orjson

logger = logging.getLogger(__name__)

OPEN = ("NEW", "PARTIALLY_FILLED")
ID_BASE = {"orders": 7_000_001, "algos": 3_000_001, "trades": 1_001, "income": 1_001}


@dataclass
class Order:
    """A regular order (`/fapi/v1/order`), incl. legacy STOP_MARKET / TAKE_PROFIT_MARKET ones
    and the market orders that triggered algo orders and liquidations place."""

    id: int
    account: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # LIMIT, MARKET, STOP_MARKET, TAKE_PROFIT_MARKET, LIQUIDATION
    qty: float
    price: float = 0.0
    tif: str = "GTC"
    stop_price: float = 0.0
    working_type: str = "CONTRACT_PRICE"
    reduce_only: bool = False
    close_position: bool = False
    price_protect: bool = False
    client_id: str = ""
    status: str = "NEW"
    filled: float = 0.0
    cum_quote: float = 0.0
    time: int = 0
    update_time: int = 0
    queue: float = 0.0  # size still ahead of a resting limit order at its price
    orig_type: str = ""
    pos: int = 0  # next print index to look at (engine bookkeeping)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled, 0.0)


@dataclass
class Algo:
    """A conditional order placed through `/fapi/v1/algoOrder` (algoType CONDITIONAL)."""

    id: int
    account: str
    symbol: str
    side: str
    order_type: str  # STOP_MARKET / TAKE_PROFIT_MARKET
    qty: float
    trigger_price: float
    working_type: str = "CONTRACT_PRICE"
    reduce_only: bool = False
    close_position: bool = False
    price_protect: bool = False
    client_id: str = ""
    tif: str = "GTC"
    status: str = "NEW"
    actual_order_id: int | None = None
    actual_price: float = 0.0
    actual_qty: float = 0.0
    create_time: int = 0
    update_time: int = 0
    trigger_time: int = 0
    pos: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"


@dataclass
class Position:
    account: str
    symbol: str
    amt: float = 0.0  # signed (one-way mode)
    entry: float = 0.0
    iw: float = 0.0  # isolated wallet (margin assigned to an isolated position)
    margin_type: str = "cross"
    realized: float = 0.0
    update_time: int = 0
    pos: int = 0


@dataclass
class Account:
    key: str
    wallet: float
    update_time: int = 0
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)  # symbol -> isolated / cross


_MUTABLE = {"accounts": Account, "orders": Order, "algos": Algo, "positions": Position}
_TABLE_OF = {cls: table for table, cls in _MUTABLE.items()}
_APPEND = ("trades", "income")


def _dumps(doc) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def _key(obj) -> str:
    if isinstance(obj, Account):
        return obj.key
    if isinstance(obj, Position):
        return f"{obj.account}|{obj.symbol}"
    return str(obj.id)


class Ledger:
    """In-memory records plus their sqlite mirror (None path: memory only)."""

    def __init__(self, path: Path | None):
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.algos: dict[int, Algo] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.trades: list[dict] = []
        self.income: list[dict] = []
        self.meta: dict[str, object] = {}
        self._dirty: dict[int, object] = {}
        self._new: dict[str, list[dict]] = {k: [] for k in _APPEND}
        self._meta_dirty: set[str] = set()
        self._meta_lazy: set[str] = set()  # written with the next other change (`set_meta`)
        self.changes = 0  # changes made so far (a request compares it before and after)
        self.db = None
        self.path = path
        if path is not None:
            self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # durable against a process crash
            for t in (*_MUTABLE, *_APPEND, "meta"):
                self.db.execute(f"CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, doc BLOB)")
            self._load()

    # --- changes -------------------------------------------------------------------------
    def touch(self, obj) -> None:
        """Mark a mutable record changed (written at the next commit)."""
        self._dirty[id(obj)] = obj
        self.changes += 1

    def add(self, obj) -> None:
        if isinstance(obj, Order):
            self.orders[obj.id] = obj
        elif isinstance(obj, Algo):
            self.algos[obj.id] = obj
        elif isinstance(obj, Position):
            self.positions[(obj.account, obj.symbol)] = obj
        elif isinstance(obj, Account):
            self.accounts[obj.key] = obj
        self.touch(obj)

    def append(self, table: str, row: dict) -> None:
        getattr(self, table).append(row)
        self._new[table].append(row)
        self.changes += 1

    def set_meta(self, key: str, value, lazy: bool = False) -> None:
        """Set a meta value. A `lazy` one is written with the next change that is not lazy (or
        at `close`), not on its own: for state a restarted venue can re-derive from what was
        written with it (the engine's path cursors after prints in which nothing happened)."""
        self.meta[key] = value
        if lazy and key not in self._meta_dirty:
            self._meta_lazy.add(key)
            return
        self._meta_dirty.add(key)
        self._meta_lazy.discard(key)
        self.changes += 1

    @property
    def dirty(self) -> bool:
        """Changes wait to be written (lazy meta values alone do not count)."""
        return bool(self._dirty or self._meta_dirty or any(self._new.values()))

    def collect(self) -> dict[str, list[tuple[str, bytes]]]:
        """The rows every change since the last `collect` writes ({table: [(id, JSON doc)]}),
        serialised now; the changes are then no longer pending. Rows are the same documents
        `dataclasses.asdict` gives (orjson serialises the dataclasses field by field)."""
        rows: dict[str, list[tuple[str, bytes]]] = {}
        for obj in self._dirty.values():
            table = _TABLE_OF[type(obj)]
            rows.setdefault(table, []).append((_key(obj), _dumps(obj)))
        for t in _APPEND:
            if self._new[t]:
                rows[t] = [(str(r["id"]), _dumps(r)) for r in self._new[t]]
        if rows or self._meta_dirty:
            keys = self._meta_dirty | self._meta_lazy
            rows["meta"] = [(k, _dumps(self.meta[k])) for k in keys]
            self._meta_lazy = set()
        self._dirty.clear()
        self._new = {k: [] for k in _APPEND}
        self._meta_dirty = set()
        return rows

    def write(self, rows: dict[str, list[tuple[str, bytes]]]) -> None:
        """Write `collect`ed rows in one transaction (any thread; one writer at a time)."""
        if self.db is None or not rows:
            return
        with self.db:  # one transaction
            self.db.execute("BEGIN")
            for t, r in rows.items():
                self.db.executemany(f"INSERT OR REPLACE INTO {t} VALUES (?, ?)", r)

    def commit(self) -> None:
        """Write every change since the last commit in one transaction."""
        if self.dirty:
            self.write(self.collect())

    def rollback(self) -> None:
        """Forget uncommitted marks (in-memory objects are the caller's to restore)."""
        self._dirty.clear()
        self._new = {k: [] for k in _APPEND}

    # --- loading -------------------------------------------------------------------------
    def _load(self) -> None:
        for table, cls in _MUTABLE.items():
            for (doc,) in self.db.execute(f"SELECT doc FROM {table}"):
                d = orjson.loads(doc)
                self.add(cls(**d))
        for t in _APPEND:
            rows = [orjson.loads(doc) for (doc,) in self.db.execute(f"SELECT doc FROM {t}")]
            getattr(self, t).extend(sorted(rows, key=lambda r: r["id"]))
        self.meta = {k: orjson.loads(v) for k, v in self.db.execute("SELECT id, doc FROM meta")}
        self._dirty.clear()
        if self.accounts:
            logger.info("ledger resumed: %d accounts, %d open orders, %d open algo orders, "
                        "%d positions", len(self.accounts),
                        sum(o.is_open for o in self.orders.values()),
                        sum(a.is_open for a in self.algos.values()),
                        sum(p.amt != 0 for p in self.positions.values()))  # fmt: skip

    def next_id(self, kind: str) -> int:
        """A new id for orders / algos / trades / income (monotonic, survives restarts)."""
        cur = self.meta.get(f"next_{kind}")
        if cur is None:
            existing = {"orders": self.orders, "algos": self.algos}.get(kind)
            rows = (
                existing.keys() if existing is not None else [r["id"] for r in getattr(self, kind)]
            )
            cur = max(rows, default=ID_BASE[kind] - 1) + 1
        self.set_meta(f"next_{kind}", int(cur) + 1)
        return int(cur)

    def reload(self) -> None:
        """Drop the in-memory state and read the last committed one (after a failed request)."""
        if self.db is None:
            return
        self.accounts.clear(), self.orders.clear(), self.algos.clear(), self.positions.clear()
        self.trades.clear(), self.income.clear()
        self.rollback()
        self._meta_dirty, self._meta_lazy = set(), set()
        self._load()

    def close(self) -> None:
        """Write what is pending (lazy meta values too) and close the file."""
        if self.db is not None:
            self._meta_dirty |= self._meta_lazy
            self.commit()
            self.db.close()
            self.db = None
