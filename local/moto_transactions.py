"""`make run`'s embedded moto: TransactWriteItems that does not copy whole tables, and queries that do
not list the whole table.

moto 5.2.5's `DynamoDBBackend.transact_write_items` deep-copies each table a transaction touches, once
per action, before it starts, to put the copy back if the transaction fails. Its cost grows with the
table: about 140 ms per call at 1,100 items, and a 500-job plan (six transactions of up to 100
actions) took 15 s and then failed with 503 once `make run` held a few hundred executions.

Here, for the backend `make run` uses only (`make test` keeps plain moto, and a reset moto backend is
plain again), moto's own transaction code still runs, with its checks, conditions, order and errors;
what changes is what it can roll back to. Instead of copies of whole tables, a snapshot of the items
the transaction's actions address is taken first: a deep copy of each that exists, a note of each
that does not. A transaction writes nothing else (Put, Update and Delete write the one item their
key names; ConditionCheck writes nothing), so putting those items back as they were, and dropping the
stream records it added, restores the tables exactly: all or nothing, as before. When an action's
item cannot be told before it runs (a malformed action), moto's own whole-table copy is used.
Transactions run one at a time, so two cannot interleave their condition checks and writes.

Queries too: moto's Table.query on the table's own key lists and sorts every item of the table to
keep those of one partition (GET status after a thousand stored executions took over 2 s, a 503).
For the same backends, that listing is the partition's items alone: the same items, in the same
order, for the rest of moto's query (ranges, paging, filters, projections) to work on.

tests/integration/test_moto_transactions.py proves the semantics against plain moto's.
"""

from __future__ import annotations

import copy
import inspect
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from local.template import ACCOUNT_ID, REGION

logger = logging.getLogger(__name__)

_MARK = "_make_run_item_rollback"  # set on a backend instance: its transactions roll back per item
_WRITES = ("Put", "Update", "Delete")
# What moto's transact_write_items must still do for the patch to be right: copy the tables it
# touches with copy.deepcopy, and roll back by putting those copies in place.
_EXPECTED_SOURCE = (
    "original_table_state[table_name] = copy.deepcopy(",
    "self.tables[table_name] = original_table_state[table_name]",
)

# And moto's Table.query must still pick the items of a partition from all_items().
_EXPECTED_QUERY_SOURCE = ("for item in self.all_items()", "item.hash_key == hash_key")

_original_transact_write_items = DynamoDBBackend.transact_write_items
_original_query = Table.query
_original_all_items = Table.all_items
_query_signature = inspect.signature(Table.query)
_transactions = threading.RLock()
_in_transaction = threading.local()
_in_query = threading.local()


class _CopyModule:
    """Stands in for the `copy` module inside moto.dynamodb.models: within our transactions (on that
    thread only), a deep copy of a Table is the table itself, so moto's rollback puts it back unchanged
    and ours restores the items. Anything else is copied as usual (moto's update_item copies an Item)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_in_transaction, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


@dataclass
class _Snapshot:
    """The items a transaction addresses, as they were before it ran."""

    # (table name, hash key, range key) -> (table, whether the hash key had a bucket, the item or None)
    items: dict[tuple[str, DynamoType, DynamoType | None], tuple[Table, bool, Item | None]] = field(
        default_factory=dict
    )
    streams: dict[str, tuple[list[Any], int]] = field(default_factory=dict)

    @classmethod
    def take(cls, backend: DynamoDBBackend, actions: list[dict[str, Any]]) -> _Snapshot | None:
        """None when some writing action's item cannot be told before it runs."""
        snapshot = cls()
        for action in actions:
            if len(action) != 1:
                return None
            ((kind, operation),) = action.items()
            if kind not in _WRITES:
                continue  # ConditionCheck, or an unknown kind that moto refuses before writing
            address = _address(backend, kind, operation)
            if address is None:
                return None
            table, hash_value, range_value = address
            key = (table.name, hash_value, range_value)
            if key in snapshot.items:
                continue
            # table.items maps a hash key to its Item, or, with a range key, to {range key: Item}
            stored: Any = table.items.get(hash_value)
            had_bucket = stored is not None
            current: Item | None = stored if range_value is None else (stored or {}).get(range_value)
            snapshot.items[key] = (table, had_bucket, copy.deepcopy(current))
            if table.stream_shard is not None and table.name not in snapshot.streams:
                records = table.stream_shard.items
                snapshot.streams[table.name] = (records, len(records))
        return snapshot

    def restore(self) -> None:
        for (_, hash_value, range_value), (table, had_bucket, item) in self.items.items():
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item  # type: ignore[assignment] # as moto's put_item does
                continue
            bucket = table.items.get(hash_value)
            if item is not None:
                table.items[hash_value][range_value] = item
            elif bucket is not None:
                bucket.pop(range_value, None)
                if not bucket and not had_bucket:
                    del table.items[hash_value]
        for records, length in self.streams.values():
            del records[length:]


def _address(backend: DynamoDBBackend, kind: str, operation: Any) -> tuple[Table, DynamoType, DynamoType | None] | None:
    try:
        table = backend.tables[operation["TableName"]]
        attributes = operation["Item"] if kind == "Put" else operation["Key"]
        hash_value = DynamoType(attributes[table.hash_key_attr])
        range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr is not None else None
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    return table, hash_value, range_value


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if not getattr(self, _MARK, False):
        return _original_transact_write_items(self, transact_items)
    with _transactions:
        snapshot = _Snapshot.take(self, transact_items)
        if snapshot is None:
            return _original_transact_write_items(self, transact_items)
        _in_transaction.active = True
        try:
            _original_transact_write_items(self, transact_items)
        except BaseException:
            snapshot.restore()
            raise
        finally:
            _in_transaction.active = False


def _marked(table: Table) -> bool:
    backends = dynamodb_backends.get(table.account_id)
    return bool(backends and table.region_name in backends and getattr(backends[table.region_name], _MARK, False))


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    arguments = _query_signature.bind(self, *args, **kwargs).arguments
    if arguments.get("index_name") is not None or arguments.get("hash_key") is None or not _marked(self):
        return _original_query(self, *args, **kwargs)
    _in_query.partition = (self, arguments["hash_key"])
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        _in_query.partition = None


def _all_items(self: Table) -> list[Item]:
    partition = getattr(_in_query, "partition", None)
    if partition is None or partition[0] is not self:
        return _original_all_items(self)
    stored: Any = self.items.get(partition[1])  # .get: no empty partition left behind
    if stored is None:
        return []
    # all_items' own order (by hash key, then range key), within the one partition
    if not self.range_key_attr:
        return [stored]
    items: list[Any] = list(stored.values())
    return sorted(items, key=lambda item: item.range_key)


def patchable() -> bool:
    """Whether moto's transact_write_items and Table.query are still the code this module was written
    against."""
    transactions = inspect.getsource(_original_transact_write_items)
    query = inspect.getsource(_original_query)
    return all(f in transactions for f in _EXPECTED_SOURCE) and all(f in query for f in _EXPECTED_QUERY_SOURCE)


def enable(backend: DynamoDBBackend | None = None) -> bool:
    """Item-level rollback and partition-only queries for `backend` (default: the one `make run` uses,
    for the local account and region) until moto resets it. False, and plain moto, if moto's code is
    not what we expect."""
    if not patchable():
        logger.warning("moto's transact_write_items changed: make run keeps moto's own (slow as tables grow)")
        return False
    if DynamoDBBackend.transact_write_items is not _transact_write_items:
        dynamodb_models.copy = _CopyModule()  # type: ignore[attr-defined,assignment]
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        Table.query = _query  # type: ignore[method-assign]
        Table.all_items = _all_items  # type: ignore[method-assign]
    setattr(backend or dynamodb_backends[ACCOUNT_ID][REGION], _MARK, True)
    return True


def disable(backend: DynamoDBBackend | None = None) -> None:
    """Plain moto again for `backend` (the benchmark compares the two)."""
    target = backend or dynamodb_backends[ACCOUNT_ID][REGION]
    if hasattr(target, _MARK):
        delattr(target, _MARK)
