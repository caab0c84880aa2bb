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

A saver waits its turn for at most the store's budget: past it, a saver not yet taken
into an insert leaves the queue with the store's timeout (503, Infobip retries),
instead of waiting for every insert queued before it. One taken into an insert waits
for that insert's outcome, which the store bounds.
"""

from __future__ import annotations

import copy
import threading
import time
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
    def __init__(self, insert: Insert, max_events: int = MAX_GROUP_EVENTS, *,
                 patience: float | None = None,
                 impatient: Callable[[], BaseException] = TimeoutError) -> None:
        """`insert` stores a list of events in one transaction and returns their
        notification ids in the same order. A saver waits at most `patience` seconds
        (None: for ever) to be taken into an insert, then raises `impatient()`."""
        self._insert = insert
        self._max_events = max_events
        self._patience = patience
        self._impatient = impatient
        self._turn = threading.Condition()
        self._waiting: list[_Saver] = []
        self._inserting = False
        self.inserts = 0  # shared inserts made, for tests and curiosity
        self.grouped = 0  # savers whose events went in an insert with others'

    def insert(self, events: Sequence[StoredEvent]) -> list[int]:
        """Stores `events` in one transaction, maybe the same as other savers';
        returns their notification ids, or raises this saver's error."""
        saver = _Saver(events)
        deadline = None if self._patience is None else time.monotonic() + self._patience
        with self._turn:
            self._waiting.append(saver)
        while True:
            with self._turn:
                try:
                    while not saver.done and self._inserting:
                        self._wait(saver, deadline)
                except BaseException:
                    if saver in self._waiting:  # not taken: it stores nothing now
                        self._waiting.remove(saver)
                    raise
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

    def _wait(self, saver: _Saver, deadline: float | None) -> None:
        """Until notified; raises `impatient()` once past `deadline`, unless the saver
        was taken into an insert meanwhile (its outcome is then awaited)."""
        if deadline is None or saver not in self._waiting:
            self._turn.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._impatient()
        self._turn.wait(remaining)

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
        events = [event for saver in group for event in saver.events]
        try:
            ids = self._insert(events)
            if len(ids) != len(events):
                raise AssertionError(f"{len(events)} events stored, {len(ids)} ids answered")
        except BaseException as error:  # each saver is answered, whatever happened
            if len(group) > 1 and _may_be_one_savers(error):
                for saver in group:
                    self._store([saver])
                return
            for saver in group:
                saver.error = _own_copy(error) if len(group) > 1 else error
                saver.done = True
            if not isinstance(error, Exception):  # an interrupt: this thread's too
                raise
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
