"""The recorders' own reads and writes (adapters/store/recorders.py), on SQLite and on the
real PostgreSQL: what the library's recorders promise, kept by the faster paths."""

import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.runtime.config import load_settings


def recorder_of_a_ledger_on(url):
    ledger = build_ledger(load_settings(database_url=url,
                                        secret_key="test-secret-key-0123456789"))
    yield ledger.recorder
    ledger.close()


@pytest.fixture
def recorder(durable_store_url):
    yield from recorder_of_a_ledger_on(durable_store_url)


def event(aggregate_id, version, topic="t:A", state=b'{"n": 1}'):
    return StoredEvent(originator_id=aggregate_id, originator_version=version, topic=topic,
                       state=state)


def test_an_insert_answers_each_events_notification_id_in_order(recorder):
    first, second = uuid.uuid4(), uuid.uuid4()
    ids = recorder.insert_events([event(first, 1), event(second, 1), event(first, 2)])
    more = recorder.insert_events([event(second, 2)])
    assert ids == sorted(ids) and len(set(ids)) == 3 and more[0] > ids[-1]
    stored = recorder.select_notifications(start=ids[0], limit=10)
    assert [(n.id, n.originator_id, n.originator_version) for n in stored] == [
        (ids[0], first, 1), (ids[1], second, 1), (ids[2], first, 2), (more[0], second, 2)]


def test_a_batch_with_one_taken_position_stores_nothing(recorder):
    taken, fresh = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([event(taken, 1)])
    before = recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(fresh, 1), event(taken, 1)])
    assert recorder.max_notification_id() == before
    assert recorder.select_event_rows([fresh]) == []


def test_events_are_loaded_per_aggregate_in_version_order(recorder):
    a, b, absent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([event(b, 1), event(a, 1, state=b'{"n": 2}')])
    recorder.insert_events([event(a, 2, topic="t:B"), event(b, 2)])
    loaded = recorder.select_event_rows([a, b, absent])
    by_aggregate = {}
    for originator_id, version, _, _ in loaded:
        by_aggregate.setdefault(originator_id, []).append(version)
    assert by_aggregate == {a: [1, 2], b: [1, 2]}
    assert {type(row[0]) for row in loaded} == {uuid.UUID}
    assert (a, 1, "t:A", b'{"n": 2}') in loaded and (a, 2, "t:B", b'{"n": 1}') in loaded


def test_replay_rows_follow_the_store_order_within_the_topics_asked_for(recorder):
    aggregate = uuid.uuid4()
    ids = recorder.insert_events([event(aggregate, v, topic="t:A" if v % 2 else "t:B")
                                  for v in range(1, 8)])
    rows = recorder.select_notification_rows(ids[0] - 1, 10, ["t:A"])
    assert [row[0] for row in rows] == ids[0::2]
    assert all(row[2] == "t:A" and row[3] == b'{"n": 1}' for row in rows)
    page = recorder.select_notification_rows(ids[0], 2, ["t:A", "t:B"])
    assert [row[0] for row in page] == ids[1:3]


def test_ledgers_opening_a_new_sqlite_file_together_all_start(tmp_path):
    """SQLite refuses a switch to WAL mode at once while another connection opens the
    same new file; the recorder makes that switch itself, waiting its turn."""
    import threading

    for round_ in range(20):
        url = f"sqlite:///{tmp_path}/new-{round_}.db"
        barrier, errors, ledgers = threading.Barrier(6), [], []

        def start(url=url, barrier=barrier, errors=errors, ledgers=ledgers):
            try:
                barrier.wait()
                ledgers.append(build_ledger(load_settings(
                    database_url=url, secret_key="test-secret-key-0123456789")))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for ledger in ledgers:
            ledger.close()
        assert errors == [] and len(ledgers) == 6



def saving_while_the_table_is_held(postgres_url, recorder, batches):
    """Each batch saved by a thread of its own while another transaction holds the
    events table: one saver waits in PostgreSQL, the others queue behind it. Each
    thread's answer: its notification ids, or the error raised."""
    import threading
    import time

    from support.postgres import connect

    answers: dict[int, object] = {}

    def save(index, batch):
        try:
            answers[index] = recorder.insert_events(batch)
        except Exception as error:  # noqa: BLE001 - the answer under test
            answers[index] = error

    schema = postgres_url.rsplit("schema=", 1)[1]
    group_commit = recorder._group_commit
    with connect() as holder, holder.transaction():
        holder.execute(f'LOCK TABLE "{schema}".{recorder.events_table_name} IN EXCLUSIVE MODE')
        threads = [threading.Thread(target=save, args=(n, b)) for n, b in enumerate(batches)]
        threads[0].start()
        deadline = time.monotonic() + 10
        while not group_commit._inserting and time.monotonic() < deadline:
            time.sleep(0.005)  # the first saver is inserting, alone: the others queue
        for thread in threads[1:]:
            thread.start()
        while len(group_commit._waiting) < len(batches) - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    for thread in threads:
        thread.join(10)
    return answers


@pytest.fixture
def postgres_recorder(postgres_url):
    yield from recorder_of_a_ledger_on(postgres_url)


def assert_stored_as_answered(recorder, batches, answers):
    stored = {n.id: n for n in recorder.select_notifications(start=1, limit=100)}
    for index, ids in answers.items():
        assert [(stored[i].originator_id, stored[i].originator_version) for i in ids] == [
            (e.originator_id, e.originator_version) for e in batches[index]]
    return stored


def test_savers_waiting_for_the_events_table_on_postgres_share_one_insert(
        postgres_url, postgres_recorder):
    """Group commit (adapters/store/group_commit.py) on the real server."""
    batches = [[event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)] for _ in range(7)]
    answers = saving_while_the_table_is_held(postgres_url, postgres_recorder, batches)
    stored = assert_stored_as_answered(postgres_recorder, batches, answers)
    assert len(stored) == 14
    # The saver that waited in PostgreSQL alone, then the six queued behind it in one.
    assert postgres_recorder._group_commit.inserts == 2
    assert postgres_recorder._group_commit.grouped == 6


def test_a_taken_version_among_grouped_savers_on_postgres_fails_only_its_saver(
        postgres_url, postgres_recorder):
    taken = uuid.uuid4()
    postgres_recorder.insert_events([event(taken, 1)])
    group_commit, sizes = postgres_recorder._group_commit, []
    insert = group_commit._insert
    group_commit._insert = lambda events: sizes.append(len(events)) or insert(events)
    batches = [[event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)] for _ in range(6)]
    batches.insert(3, [event(taken, 1, state=b'{"n": 2}')])
    answers = saving_while_the_table_is_held(postgres_url, postgres_recorder, batches)
    assert isinstance(answers.pop(3), IntegrityError)
    assert all(isinstance(ids, list) for ids in answers.values())
    stored = assert_stored_as_answered(postgres_recorder, batches, answers)
    assert len(stored) == 1 + 12
    # The first alone; the five others and the taken one together, refused; then each
    # of those six alone.
    assert sizes[:2] == [2, 11] and sorted(sizes[2:]) == [1, 2, 2, 2, 2, 2]


def test_an_insert_whose_commit_was_cut_off_answers_as_stored(postgres_recorder):
    """The connection is cut after the server committed: the insert's next attempt
    meets its own events and answers with their ids, not with IntegrityError (which
    would make the saver apply its command again)."""
    from smsledger.adapters.store.bounded_postgres import ConnectionCut

    insert, committed = postgres_recorder._insert_in_one_call, []

    def commit_then_cut(events):
        if not committed:
            committed.append(insert(events))
            raise ConnectionCut("server closed the connection unexpectedly")
        return insert(events)

    postgres_recorder._insert_in_one_call = commit_then_cut
    aggregate = uuid.uuid4()
    ids = postgres_recorder.insert_events([event(aggregate, 1), event(aggregate, 2)])
    assert ids == committed[0]
    with pytest.raises(IntegrityError):  # another writer's version is still a conflict
        postgres_recorder.insert_events([event(aggregate, 2, state=b'{"n": 9}')])


def test_a_value_the_database_refuses_is_not_tried_again(postgres_recorder):
    import psycopg.errors
    from eventsourcing.persistence import OperationalError

    calls = []

    def refused(events):
        calls.append(events)
        raise OperationalError("index row size exceeds maximum") from (
            psycopg.errors.ProgramLimitExceeded())

    postgres_recorder._insert_in_one_call = refused
    with pytest.raises(OperationalError):
        postgres_recorder.insert_events([event(uuid.uuid4(), 1)])
    assert len(calls) == 1


def parallel_workers_of_a_ledger_on(url):
    ledger = build_ledger(load_settings(database_url=url,
                                        secret_key="test-secret-key-0123456789"))
    try:
        with ledger.recorder.datastore.get_connection() as conn:
            return conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[
                "max_parallel_workers_per_gather"]
    finally:
        ledger.close()


def test_the_stores_connections_on_postgres_plan_no_parallel_workers(postgres_url):
    """Parallel plans are off on the store's connections (adapters/store/bounded_postgres.py:
    without table statistics an aggregate load ran with two workers, 20 ms instead of
    under 1 ms), set after connecting: a startup option would be refused by PgBouncer."""
    assert parallel_workers_of_a_ledger_on(postgres_url) == "0"


def test_an_operators_choice_of_parallel_workers_stands(postgres_url, monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c max_parallel_workers_per_gather=1")
    assert parallel_workers_of_a_ledger_on(postgres_url) == "1"
