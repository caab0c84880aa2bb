"""Group commit: the events of concurrent savers inserted in one transaction.

On PostgreSQL every insert takes the events table's EXCLUSIVE lock and holds it
until its commit is durable (adapters/store/recorders.py), so concurrent webhook
callbacks commit one after another, each paying the lock, a round trip and a WAL
flush. Here the first saver to arrive inserts at once; the savers that arrive while
its insert runs wait, and the next of them inserts all their events together. A lone
saver waits for nothing; a busy service makes one insert of many.

The waiting savers' outcomes are kept apart: if a shared insert fails for a reason
that may belong to one saver's events only (another writer stored one of those
versions first, or the database refused a value), each saver's events are inserted
again on their own, so each gets its own answer: the others are stored, the one at
fault gets its IntegrityError (and loads and tries again, as any saver would) or its
refusal. Any other failure (the store is down) is every saver's answer: each of
them was told nothing was stored, and nothing was.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError, StoredEvent

from smsledger.adapters.store.refusals import refused_a_value

# Events per shared insert at most: a burst is split into inserts of about this size
# (a saver's events are never split), so one statement stays a few megabytes.
MAX_GROUP_EVENTS = 5_000

Insert = Callable[[Sequence[StoredEvent]], list[int]]


@dataclass(eq=False)
class _Saver:
    events: Sequence[StoredEvent]
    done: bool = False
    notification_ids: list[int] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, insert: Insert, max_events: int = MAX_GROUP_EVENTS) -> None:
        """`insert` stores a list of events in one transaction and returns their
        notification ids in the same order."""
        self._insert = insert
        self._max_events = max_events
        self._turn = threading.Condition()
        self._waiting: list[_Saver] = []
        self._inserting = False
        self.inserts = 0  # shared inserts made, for tests and curiosity
        self.grouped = 0  # savers whose events went in an insert with others'

    def insert(self, events: Sequence[StoredEvent]) -> list[int]:
        """Stores `events` in one transaction, maybe the same as other savers';
        returns their notification ids, or raises this saver's error."""
        saver = _Saver(events)
        with self._turn:
            self._waiting.append(saver)
        while True:
            with self._turn:
                while not saver.done and self._inserting:
                    self._turn.wait()
                if saver.done:
                    break
                # Nobody is inserting: this saver inserts for the oldest waiting (its
                # own events among them, unless the size limit leaves them for the next).
                self._inserting = True
                group = self._take_group()
            try:
                self._store(group)
            finally:
                with self._turn:
                    self._inserting = False
                    self._turn.notify_all()
        if saver.error is not None:
            raise saver.error
        return saver.notification_ids

    def _take_group(self) -> list[_Saver]:
        """The oldest waiting savers, up to the size limit (at least one)."""
        group: list[_Saver] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].events)
                                 <= self._max_events):
            saver = self._waiting.pop(0)
            group.append(saver)
            size += len(saver.events)
        return group

    def _store(self, group: list[_Saver]) -> None:
        try:
            ids = self._insert([event for saver in group for event in saver.events])
        except BaseException as error:  # each saver is answered, whatever happened
            if len(group) > 1 and _may_be_one_savers(error):
                for saver in group:
                    self._store([saver])
                return
            for saver in group:
                saver.error = _own_copy(error) if len(group) > 1 else error
                saver.done = True
            return
        self.inserts += 1
        self.grouped += len(group) if len(group) > 1 else 0
        start = 0
        for saver in group:
            saver.notification_ids = ids[start:start + len(saver.events)]
            start += len(saver.events)
            saver.done = True


def _may_be_one_savers(error: BaseException) -> bool:
    return isinstance(error, IntegrityError) or refused_a_value(error)


def _own_copy(error: BaseException) -> BaseException:
    """The error for one of several savers: raised in several threads at once, one
    object would collect all their tracebacks."""
    try:
        duplicate = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied is shared
        return error
    duplicate.__cause__ = error.__cause__
    return duplicate
