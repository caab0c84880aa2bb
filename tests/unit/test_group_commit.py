"""Group commit (adapters/store/group_commit.py) against a store in memory that keeps
the real one's rules: one transaction per insert, all or nothing, one event per
aggregate version. Savers arriving while an insert runs go in the next one together;
each still gets its own answer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

import psycopg.errors
import pytest
from eventsourcing.persistence import DataError, IntegrityError, OperationalError, StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.adapters.store.group_commit import GroupCommit


class Store:
    """Inserts all of a list or nothing, as one transaction; a version stored twice is
    an IntegrityError, a state of b"refused" a DataError. `hold` keeps the next insert
    waiting until released, as the table lock of another transaction would."""

    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []
        self.inserts: list[int] = []  # events per insert made (or tried)
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def insert(self, events: Sequence[StoredEvent]) -> list[int]:
        self.entered.set()
        self.hold.wait()
        self.inserts.append(len(events))
        keys = [(e.originator_id, e.originator_version) for e in events]
        if len(set(keys)) < len(keys) or set(keys) & {(e.originator_id, e.originator_version)
                                                      for e in self.rows}:
            raise IntegrityError("duplicate key value violates unique constraint")
        if any(e.state == b"refused" for e in events):
            raise DataError("invalid byte sequence")
        first = len(self.rows) + 1
        self.rows.extend(events)
        return list(range(first, first + len(events)))


def events(count: int, aggregate: uuid.UUID | None = None, first_version: int = 1,
           state: bytes = b"{}") -> list[StoredEvent]:
    aggregate = aggregate or uuid.uuid4()
    return [StoredEvent(originator_id=aggregate, originator_version=first_version + n,
                        topic="t:Event", state=state) for n in range(count)]


def saving_together(commit: GroupCommit, store: Store, batches: list[list[StoredEvent]]
                    ) -> list[object]:
    """Each batch saved from a thread of its own, all of them waiting behind one insert
    already running; each thread's answer (notification ids or the error raised)."""
    store.hold.clear()
    store.entered.clear()
    answers: list[object] = [None] * (len(batches) + 1)

    def save(index: int, batch: list[StoredEvent]) -> None:
        try:
            answers[index] = commit.insert(batch)
        except Exception as error:  # noqa: BLE001 - the answer under test
            answers[index] = error

    first = threading.Thread(target=save, args=(0, events(1)))
    first.start()
    assert store.entered.wait(5)  # the running insert, held
    threads = [threading.Thread(target=save, args=(n + 1, batch))
               for n, batch in enumerate(batches)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(commit._waiting) < len(batches) and time.monotonic() < deadline:
        time.sleep(0.001)
    store.hold.set()
    for thread in [first, *threads]:
        thread.join(5)
    return answers[1:]


def test_a_lone_saver_inserts_at_once():
    store = Store()
    commit = GroupCommit(store.insert)
    assert commit.insert(events(3)) == [1, 2, 3]
    assert commit.insert(events(2)) == [4, 5]
    assert store.inserts == [3, 2] and commit.grouped == 0


def test_savers_arriving_during_an_insert_share_the_next_one():
    store = Store()
    commit = GroupCommit(store.insert)
    batches = [events(n + 1) for n in range(6)]
    answers = saving_together(commit, store, batches)
    assert store.inserts == [1, sum(len(b) for b in batches)]  # the held one, then one for all
    assert commit.grouped == 6
    for batch, ids in zip(batches, answers, strict=True):
        assert isinstance(ids, list) and [store.rows[i - 1] for i in ids] == batch


def test_a_conflict_fails_only_the_saver_whose_version_was_taken():
    store = Store()
    commit = GroupCommit(store.insert)
    taken = uuid.uuid4()
    commit.insert(events(1, taken))
    batches = [events(2), events(1, taken), events(3)]
    answers = saving_together(commit, store, batches)
    assert isinstance(answers[1], IntegrityError)
    for index in (0, 2):
        assert [store.rows[i - 1] for i in answers[index]] == batches[index]  # type: ignore[union-attr]
    assert len(store.rows) == 1 + 1 + 2 + 3  # nothing of the failed saver


def test_two_savers_of_the_same_version_store_one_of_them():
    store = Store()
    commit = GroupCommit(store.insert)
    contested = uuid.uuid4()
    answers = saving_together(commit, store, [events(1, contested), events(1, contested)])
    assert sorted(type(a).__name__ for a in answers) == ["IntegrityError", "list"]
    assert sum(e.originator_id == contested for e in store.rows) == 1


def test_a_refused_value_fails_only_its_saver():
    store = Store()
    commit = GroupCommit(store.insert)
    answers = saving_together(commit, store, [events(2), events(1, state=b"refused")])
    assert isinstance(answers[0], list) and isinstance(answers[1], DataError)


def test_a_value_the_store_refused_inside_an_operational_error_fails_only_its_saver():
    """PostgreSQL's "index row size exceeds maximum" is an OperationalError to the
    library, a refusal by its cause (adapters/store/refusals.py)."""
    store = Store()

    def refusing(batch):
        if any(e.state == b"too big" for e in batch):
            raise OperationalError("index row size") from psycopg.errors.ProgramLimitExceeded()
        return store.insert(batch)

    commit = GroupCommit(refusing)
    store.hold.clear()
    answers = saving_together(commit, store, [events(2), events(1, state=b"too big")])
    assert isinstance(answers[0], list) and isinstance(answers[1], OperationalError)


def test_a_saver_waits_its_turn_no_longer_than_its_patience():
    store = Store()
    commit = GroupCommit(store.insert, patience=0.2, impatient=lambda: TimeoutError("no turn"))
    store.hold.clear()
    first = threading.Thread(target=commit.insert, args=(events(1),))
    first.start()
    assert store.entered.wait(5)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no turn"):
        commit.insert(events(2))
    assert 0.2 <= time.monotonic() - started < 2
    store.hold.set()
    first.join(5)
    assert len(store.rows) == 1 and commit._waiting == []  # the impatient saver stored nothing


def test_a_saver_taken_into_an_insert_waits_for_its_outcome_past_its_patience():
    store = Store()
    commit = GroupCommit(store.insert, patience=0.1, impatient=lambda: TimeoutError("no turn"))
    store.hold.clear()
    answer = []
    saver = threading.Thread(target=lambda: answer.append(commit.insert(events(2))))
    saver.start()  # it inserts, held in the store: taken, no longer waiting its turn
    assert store.entered.wait(5)
    time.sleep(0.3)
    store.hold.set()
    saver.join(5)
    assert answer == [[1, 2]]


def test_a_store_that_is_down_answers_every_saver_after_one_attempt():
    store = Store()
    tried: list[int] = []

    def refuse(batch):
        store.entered.set()
        store.hold.wait()
        tried.append(len(batch))
        raise OperationalError("connection refused")

    commit = GroupCommit(refuse)
    answers = saving_together(commit, store, [events(1), events(2)])
    assert [type(a) for a in answers] == [OperationalError, OperationalError]
    assert answers[0] is not answers[1]  # raised in two threads: an object each
    assert tried == [1, 3]  # the held insert, then the group once: not again per saver


def test_a_burst_is_split_into_inserts_of_the_size_limit_never_splitting_a_saver():
    store = Store()
    commit = GroupCommit(store.insert, max_events=5)
    batches = [events(3), events(3), events(7), events(1)]
    answers = saving_together(commit, store, batches)
    assert store.inserts == [1, 3, 3, 7, 1]
    assert all(isinstance(a, list) for a in answers)


def test_an_interrupted_insert_answers_its_savers_and_frees_the_turn():
    store = Store()
    commit = GroupCommit(store.insert)

    def interrupted(batch):
        raise KeyboardInterrupt

    commit._insert = interrupted
    with pytest.raises(KeyboardInterrupt):
        commit.insert(events(1))
    commit._insert = store.insert
    assert commit.insert(events(1)) == [1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(1, 4)),
                min_size=1, max_size=12))
def test_concurrent_savers_each_get_their_own_answer(savers):
    """Savers of random sizes on a few aggregates, at random versions, all at once:
    each either stored all its events, at the ids it was given, or none, with an
    IntegrityError; no version is stored twice; everything a conflict did not stop
    is stored."""
    store = Store()
    commit = GroupCommit(store.insert, max_events=6)
    aggregates = [uuid.uuid4() for _ in range(4)]
    batches = [events(count, aggregates[a], first_version=v, state=b"saver %d" % n)
               for n, (a, v, count) in enumerate(savers)]  # each saver's events its own
    answers = saving_together(commit, store, batches)
    keys = [(e.originator_id, e.originator_version) for e in store.rows]
    assert len(keys) == len(set(keys))
    for batch, answer in zip(batches, answers, strict=True):
        if isinstance(answer, list):
            assert [store.rows[i - 1] for i in answer] == batch
        else:
            assert isinstance(answer, IntegrityError)
            assert not any(e in store.rows for e in batch)
            assert any((e.originator_id, e.originator_version) in keys for e in batch) or (
                len({(e.originator_id, e.originator_version) for e in batch}) < len(batch))
