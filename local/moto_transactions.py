"""moto's TransactWriteItems, copying each table it touches once instead of once per action.

moto 5.2.5's `DynamoDBBackend.transact_write_items` keeps a copy of each table a transaction touches, to
put back if the transaction fails. It makes that copy in a loop over the actions, before any of them
runs: a 100-action transaction deep-copies the same unchanged table 100 times and keeps the last copy.
DynamoDB's transactions cost nothing per stored item, moto's cost grows with the table times the
actions: a 250-job plan's transactions took 2.9 to 3.7 s of CPU on an empty table and 27 to 28 s with
1,000 items stored, 0.25 to 0.65 s with this (docs/testing.md); the storage tests write many such plans.

Here, within one call, the first copy of a table is the copy every later action of the loop gets: the
very copy moto would have kept, since nothing changes between them. moto's code still runs whole, with
its checks, conditions, order, errors and rollback; the copies are let go of after each call (moto's
dashboard tracker would keep them). What remains costs one copy per table per
transaction, so `make run BACKEND=moto` still slows as its table grows (docs/testing.md).

The per-action copy is an upstream inefficiency with no moto issue found for it (getmoto/moto, searched
December 2026; PR #9670 made each copy cheaper, not fewer): to be filed, with
tests/integration/test_moto_transactions.py::test_a_transaction_copies_each_table_it_touches_once as
the reproducer. `patchable()` checks that moto's code is still the one this was written against.
"""

from __future__ import annotations

import copy
import inspect
import logging
import threading
from typing import Any

from moto.core.model_instances import model_data
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

logger = logging.getLogger(__name__)

# What moto's transact_write_items must still do for this to be right: copy the tables it touches with
# copy.deepcopy, keyed by table name, and roll back by putting that copy in place.
_EXPECTED_SOURCE = (
    "original_table_state[table_name] = copy.deepcopy(",
    "self.tables[table_name] = original_table_state[table_name]",
)
_original_transact_write_items = DynamoDBBackend.transact_write_items
_copies = threading.local()  # per request thread: id(table) -> its copy, during one transaction


class _CopyModule:
    """Stands in for the `copy` module inside moto.dynamodb.models: within a transaction on this thread,
    a table's deep copy is made once; anything else is copied as usual (update_item copies an Item)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        made: dict[int, Any] | None = getattr(_copies, "tables", None)
        if made is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in made:
            made[id(value)] = copy.deepcopy(value, memo)
        return made[id(value)]


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    _copies.tables = {}
    try:
        return _original_transact_write_items(self, transact_items)
    finally:
        _copies.tables = None
        # moto tracks every instance of its models for its dashboard (BaseModel.__new__), so the items of
        # each copy would stay alive for good: make run's memory grew by the table at every transaction.
        for model in model_data["dynamodb"].values():
            model.instances_tracked = []  # type: ignore[attr-defined]


def patchable() -> bool:
    """Whether moto's transact_write_items is still the code this module was written against."""
    source = inspect.getsource(_original_transact_write_items)
    return all(fragment in source for fragment in _EXPECTED_SOURCE)


def enable() -> bool:
    """One copy per table per transaction, for every moto backend of this process (idempotent). False,
    and moto as it ships, if moto's code is not what this module expects."""
    if not patchable():
        logger.warning("moto's transact_write_items changed: local/moto_transactions.py left it as it is")
        return False
    dynamodb_models.copy = _CopyModule()  # type: ignore[attr-defined,assignment]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    return True
