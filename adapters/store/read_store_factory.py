"""The read store that fits an application's event store."""

from __future__ import annotations

import threading
import weakref

from eventsourcing.persistence import Recorder
from eventsourcing.popo import POPORecorder

from smsledger.adapters.store.memory_read_store import MemoryReadStore
from smsledger.adapters.store.sql_read_store import SqlReadStore, dialect_beside
from smsledger.application.ports import ReadStore

_memory_stores: weakref.WeakKeyDictionary[Recorder, MemoryReadStore] = weakref.WeakKeyDictionary()
_memory_lock = threading.Lock()


def read_store_for(recorder: Recorder) -> ReadStore:
    """The read store beside `recorder` (e.g. `ledger.recorder`), sharing its database.

    In memory, every call for one recorder returns the same store, as every call for
    one database file or schema sees the same tables."""
    if isinstance(recorder, POPORecorder):
        with _memory_lock:
            store = _memory_stores.get(recorder)
            if store is None:
                store = _memory_stores[recorder] = MemoryReadStore()
            return store
    return SqlReadStore(dialect_beside(recorder))
