"""The read store port on each backend, built as production builds it: beside a real
LedgerApplication's event store (memory://, an SQLite file, a PostgreSQL schema)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.store.memory_read_store import MemoryReadStore
from smsledger.adapters.store.read_store_factory import read_store_for
from smsledger.adapters.store.sql_read_store import SqlReadStore
from smsledger.adapters.runtime.system import ManualClock
from support.providers import ScriptedProvider

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
EPOCH_MICROS = 1_793_534_400_000_000  # positions may be large (epoch microseconds)

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
DURABLE = ["sqlite", POSTGRES]


def make_ledger(database_url):
    return build_ledger(load_settings(database_url=database_url), provider=ScriptedProvider(),
                        clock=ManualClock(T0))


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
def database_url(request, tmp_path):
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def open_ledger(database_url):
    ledgers = []

    def open_():
        ledgers.append(make_ledger(database_url))
        return ledgers[-1]

    yield open_
    for ledger in ledgers:
        ledger.close()


@pytest.fixture
def open_store(open_ledger):
    """Opens a store as production does: the ledger builds it beside its recorder."""
    return lambda: open_ledger().read_store


@pytest.fixture
def store(open_store):
    return open_store()


@pytest.fixture
def view(store):
    return store.live_view("orders")


def put_one(store, view, tracking_id, kind, key, doc, **where):
    with store.write(view, tracking_id) as w:
        w.put(kind, key, doc, **where)


# --- the factory --------------------------------------------------------------------------

def test_the_factory_picks_the_store_for_the_event_store(store, database_url):
    expected = MemoryReadStore if database_url == "memory://" else SqlReadStore
    assert type(store) is expected


@pytest.mark.parametrize("database_url", ["memory"], indirect=True)
def test_in_memory_one_ledger_has_one_store(database_url):
    ledger = make_ledger(database_url)
    assert read_store_for(ledger.recorder) is ledger.read_store


# --- documents --------------------------------------------------------------------------

def test_put_get_delete_round_trip(store, view):
    doc = {"text": "héllo ☃", "n": 3, "nested": {"list": [1, 2.5, None, True]}}
    put_one(store, view, 1, "message", "m1", doc, partition="acme", position=7)
    assert store.get(view, "message", "m1") == doc
    assert store.get(view, "message", "m2") is None
    assert store.position(view) == 1

    with store.write(view, 2) as w:
        w.delete("message", "m1")
        w.delete("message", "never-there")
    assert store.get(view, "message", "m1") is None
    assert store.scan(view, "message", "acme") == []
    assert store.position(view) == 2


def test_a_put_replaces_the_document_and_its_place(store, view):
    put_one(store, view, 1, "message", "m1", {"v": 1}, partition="a", position=1)
    put_one(store, view, 2, "message", "m1", {"v": 2}, partition="b", position=5)
    assert store.get(view, "message", "m1") == {"v": 2}
    assert store.scan(view, "message", "a") == []
    assert store.scan(view, "message", "b") == [(5, {"v": 2})]


def test_a_transaction_sees_its_own_writes(store, view):
    put_one(store, view, 1, "counter", "c", {"n": 1})
    with store.write(view, 2) as w:
        assert w.get("counter", "c") == {"n": 1}
        w.put("counter", "c", {"n": 2})
        assert w.get("counter", "c") == {"n": 2}
        w.delete("counter", "c")
        assert w.get("counter", "c") is None
        w.put("counter", "c", {"n": 3})
        assert w.get("counter", "c") == {"n": 3}
        w.put("other", "x", {"new": True})
        assert w.get("other", "x") == {"new": True}
    assert store.get(view, "counter", "c") == {"n": 3}
    assert store.get(view, "other", "x") == {"new": True}


def test_a_prefetch_changes_no_answer(store, view):
    with store.write(view, 1) as w:
        for n in range(1000):  # more keys than SQLite takes in one statement
            w.put("counter", f"c{n}", {"n": n})
        w.put("other", "c1", {"kind": "other"})
    keys = [f"c{n}" for n in range(1000)] + ["absent", "gone", "fresh"]
    with store.write(view, 2) as w:
        w.put("counter", "fresh", {"n": "pending"})  # a pending put wins over the store
        w.prefetch("counter", keys)
        w.delete("counter", "c2")  # a change after the prefetch wins too
        w.put("counter", "c3", {"n": "changed"})
        assert [w.get("counter", f"c{n}") for n in (0, 999)] == [{"n": 0}, {"n": 999}]
        assert (w.get("counter", "c2"), w.get("counter", "c3")) == (None, {"n": "changed"})
        assert (w.get("counter", "absent"), w.get("counter", "fresh")) == (None, {"n": "pending"})
        assert w.get("other", "c1") == {"kind": "other"}  # kinds stay apart
        w.get("counter", "c0")["n"] = "mutated"  # a fetched document read back is a copy
        assert w.get("counter", "c0") == {"n": 0}
    assert store.get(view, "counter", "c2") is None
    assert store.get(view, "counter", "c3") == {"n": "changed"}


def test_a_document_read_back_is_a_copy(store, view):
    doc = {"items": [1]}
    with store.write(view, 1) as w:
        w.put("k", "a", doc)
        doc["items"].append(2)  # changing it after the put changes nothing stored
        w.get("k", "a")["items"].append(3)
        assert w.get("k", "a") == {"items": [1]}
    assert store.get(view, "k", "a") == {"items": [1]}


def test_the_writer_is_closed_after_its_block(store, view):
    with store.write(view, 1) as w:
        w.put("k", "a", {})
    with pytest.raises(RuntimeError):
        w.put("k", "b", {})


def test_an_exception_inside_write_rolls_everything_back(store, view):
    put_one(store, view, 1, "counter", "c", {"n": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write(view, 2) as w:
        w.put("counter", "c", {"n": 2})
        w.put("counter", "d", {"n": 1})
        w.delete("counter", "c")
        raise Boom
    assert store.position(view) == 1
    assert store.get(view, "counter", "c") == {"n": 1}
    assert store.get(view, "counter", "d") is None
    # and the view still takes the next position
    put_one(store, view, 2, "counter", "c", {"n": 2})
    assert store.get(view, "counter", "c") == {"n": 2}


@pytest.mark.parametrize("tracking_id", [3, 2], ids=["equal", "older"])
def test_an_old_or_equal_position_raises_and_writes_nothing(store, view, tracking_id):
    put_one(store, view, 3, "counter", "c", {"n": 1})
    with pytest.raises(IntegrityError), store.write(view, tracking_id) as w:
        w.put("counter", "c", {"n": 99})
        w.put("counter", "new", {"n": 99})
    assert store.position(view) == 3
    assert store.get(view, "counter", "c") == {"n": 1}
    assert store.get(view, "counter", "new") is None


def test_large_positions(store, view):
    put_one(store, view, EPOCH_MICROS, "window", "w", {"closes": EPOCH_MICROS},
            partition="open", position=EPOCH_MICROS + 1)
    assert store.position(view) == EPOCH_MICROS
    assert store.scan(view, "window", "open", after=EPOCH_MICROS) == [
        (EPOCH_MICROS + 1, {"closes": EPOCH_MICROS})]
    with pytest.raises(IntegrityError):
        put_one(store, view, EPOCH_MICROS, "window", "w", {})


# --- scanning -----------------------------------------------------------------------------

@pytest.fixture
def events(store, view):
    """Documents of kind "event" in partition "p1" at positions 10, 20, ... 100, put in
    shuffled order, plus neighbours in other partitions and of other kinds."""
    with store.write(view, 1) as w:
        for n in (5, 2, 9, 1, 7, 3, 10, 4, 8, 6):
            w.put("event", f"e{n}", {"n": n}, partition="p1", position=n * 10)
        w.put("event", "other-partition", {"n": -1}, partition="p2", position=15)
        w.put("window", "other-kind", {"n": -2}, partition="p1", position=15)
        w.put("event", "no-partition", {"n": -3})
    return view


def ns(rows):
    return [doc["n"] for _, doc in rows]


def test_scan_orders_by_position(store, events):
    rows = store.scan(events, "event", "p1")
    assert [p for p, _ in rows] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert ns(rows) == list(range(1, 11))


def test_scan_bounds_are_exclusive_after_and_inclusive_upto(store, events):
    assert ns(store.scan(events, "event", "p1", after=30)) == [4, 5, 6, 7, 8, 9, 10]
    assert ns(store.scan(events, "event", "p1", upto=30)) == [1, 2, 3]
    assert ns(store.scan(events, "event", "p1", after=30, upto=60)) == [4, 5, 6]
    assert ns(store.scan(events, "event", "p1", after=35, upto=55)) == [4, 5]
    assert store.scan(events, "event", "p1", after=100) == []
    assert store.scan(events, "event", "p1", after=60, upto=60) == []


def test_scan_limit(store, events):
    assert ns(store.scan(events, "event", "p1", limit=3)) == [1, 2, 3]
    assert ns(store.scan(events, "event", "p1", after=80, limit=5)) == [9, 10]
    with pytest.raises(ValueError):
        store.scan(events, "event", "p1", limit=0)


def test_scan_keeps_partitions_and_kinds_apart(store, events):
    assert store.scan(events, "event", "p2") == [(15, {"n": -1})]
    assert store.scan(events, "window", "p1") == [(15, {"n": -2})]
    assert store.scan(events, "event", "") == [(0, {"n": -3})]
    assert store.scan(events, "window", "p2") == []
    assert store.scan(events, "nothing", "p1") == []


def test_scan_all_reads_every_page(store, view):
    with store.write(view, 1) as w:
        for n in range(1, 26):
            w.put("event", f"e{n}", {"n": n}, partition="p", position=n)
    assert ns(store.scan_all(view, "event", "p", page=7)) == list(range(1, 26))
    assert ns(store.scan_all(view, "event", "p", page=5)) == list(range(1, 26))  # exact pages
    assert ns(store.scan_all(view, "event", "p", after=3, upto=20, page=4)) == list(range(4, 21))
    assert list(store.scan_all(view, "event", "q", page=4)) == []


# --- views --------------------------------------------------------------------------------

def test_views_are_named_per_projection(store):
    assert store.live_view("orders") == "orders_v1"
    assert store.live_view("orders") == "orders_v1"
    assert store.live_view("audit_2") == "audit_2_v1"
    assert store.position("orders_v1") == 0
    assert store.get("orders_v1", "k", "x") is None
    assert store.scan("orders_v1", "k", "p") == []


def test_rebuild_new_view_fill_and_swap(store, view):
    put_one(store, view, 5, "doc", "old", {"v": "old"})
    rebuild = store.new_view("orders")
    assert rebuild == "orders_v2"
    assert store.live_view("orders") == view  # not live until swapped in
    assert store.position(rebuild) == 0
    assert store.get(rebuild, "doc", "old") is None
    put_one(store, rebuild, 3, "doc", "new", {"v": "new"})

    store.swap("orders", rebuild)

    assert store.live_view("orders") == rebuild
    assert store.get(rebuild, "doc", "new") == {"v": "new"}
    assert store.position(rebuild) == 3
    # the old view and its documents are gone
    for gone in (lambda: store.get(view, "doc", "old"), lambda: store.position(view),
                 lambda: store.scan(view, "doc", "")):
        with pytest.raises(ValueError):
            gone()
    with pytest.raises(ValueError):
        put_one(store, view, 6, "doc", "late", {})  # a stale runner cannot write to it
    # names are never reused
    assert store.new_view("orders") == "orders_v3"


def test_swap_checks_the_view(store, view):
    other = store.new_view("other")
    with pytest.raises(ValueError):
        store.swap("orders", other)
    with pytest.raises(ValueError):
        store.swap("orders", "orders_v9")
    store.swap("orders", view)  # already live: nothing to do
    assert store.live_view("orders") == view


def test_drop_refuses_the_live_view_and_removes_a_rebuild(store, view):
    put_one(store, view, 1, "doc", "a", {})
    with pytest.raises(ValueError):
        store.drop(view)
    assert store.get(view, "doc", "a") == {}

    abandoned = store.new_view("orders")
    put_one(store, abandoned, 1, "doc", "b", {})
    store.drop(abandoned)
    with pytest.raises(ValueError):
        store.position(abandoned)
    with pytest.raises(ValueError):
        store.get(abandoned, "doc", "b")
    store.drop(abandoned)  # twice: nothing to do
    assert store.live_view("orders") == view
    assert store.new_view("orders") == "orders_v3"


def test_a_projection_can_begin_with_a_rebuild(store):
    first = store.new_view("orders")
    store.swap("orders", first)
    assert store.live_view("orders") == first


@pytest.mark.parametrize("name", ["", "orders-x", "orders v1", 'x"; DROP TABLE y; --', "é",
                                  "a" * 41, None])
def test_projection_names_must_be_safe_table_names(store, name):
    with pytest.raises(ValueError):
        store.live_view(name)
    with pytest.raises(ValueError):
        store.new_view(name)


def test_a_projection_name_of_forty_characters_is_fine(store):
    name = "p" * 40
    view = store.live_view(name)
    put_one(store, view, 1, "k", "x", {"ok": True})
    assert store.get(view, "k", "x") == {"ok": True}


@pytest.mark.parametrize("name", ["orders", "orders_v0", "orders_vx", 'x"_v1', "orders_v1; --"])
def test_view_names_are_checked(store, name):
    with pytest.raises(ValueError):
        store.get(name, "k", "x")
    with pytest.raises(ValueError):
        store.position(name)


# --- durability -------------------------------------------------------------------------

@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_data_survives_reopening(open_store):
    first = open_store()
    view = first.live_view("orders")
    rebuild = first.new_view("orders")
    put_one(first, view, 42, "doc", "a", {"v": 1}, partition="p", position=9)

    second = open_store()
    assert second.live_view("orders") == view
    assert second.position(view) == 42
    assert second.get(view, "doc", "a") == {"v": 1}
    assert second.scan(view, "doc", "p") == [(9, {"v": 1})]
    assert second.new_view("orders") == "orders_v3"  # knows of the rebuild
    second.swap("orders", rebuild)
    assert first.live_view("orders") == rebuild


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_processes_starting_together_agree_on_the_views(open_ledger):
    """Ledgers opened at once on one empty database (as processes starting together,
    each with its own connections) create the event tables and a projection's view once,
    and agree on the view's name."""
    barrier = threading.Barrier(4)
    names, errors = [], []

    def start():
        try:
            barrier.wait()
            store = read_store_for(open_ledger().recorder)
            names.append(store.live_view("orders"))
            names.append(store.new_view("audit"))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(names) == ["audit_v1", "audit_v2", "audit_v3", "audit_v4"] + ["orders_v1"] * 4


# --- concurrency and volume ---------------------------------------------------------------

def test_concurrent_runners_process_each_batch_exactly_once(store, view):
    batches, runners = 50, 4
    barrier = threading.Barrier(runners)
    errors, conflicts = [], []

    def run():
        try:
            barrier.wait()
            tracking_id = 1
            while tracking_id <= batches:
                try:
                    with store.write(view, tracking_id) as w:
                        counter = w.get("counter", "c") or {"n": 0}
                        w.put("counter", "c", {"n": counter["n"] + 1})
                        w.put("batch", str(tracking_id), {"by": threading.get_ident()},
                              partition="done", position=tracking_id)
                    tracking_id += 1
                except IntegrityError:
                    conflicts.append(tracking_id)
                    tracking_id = max(tracking_id, store.position(view)) + 1
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert store.get(view, "counter", "c") == {"n": batches}
    assert store.position(view) == batches
    assert [p for p, _ in store.scan(view, "batch", "done")] == list(range(1, batches + 1))


def test_concurrent_readers_see_whole_transactions(store, view):
    """Readers in other threads see a transaction's documents all or none."""
    stop = threading.Event()
    torn, errors = [], []

    def read():
        try:
            while not stop.is_set():
                rows = store.scan(view, "pair", "p")
                if len(rows) % 2 or len({doc["round"] for _, doc in rows}) > 1:
                    torn.append(rows)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for n in range(1, 31):
            with store.write(view, n) as w:
                w.put("pair", "a", {"round": n}, partition="p", position=1)
                w.put("pair", "b", {"round": n}, partition="p", position=2)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert errors == [] and torn == []


def test_a_large_batch_commits_in_one_write(store, view):
    count = 5000
    with store.write(view, 1) as w:
        for n in range(count):
            w.put("message", f"m{n:05}", {"n": n, "status": "DELIVERED", "to": "+447700900123"},
                  partition="acme", position=EPOCH_MICROS + n)
    assert store.position(view) == 1
    rows = list(store.scan_all(view, "message", "acme", page=1000))
    assert len(rows) == count
    assert [doc["n"] for _, doc in rows] == list(range(count))
    assert rows[-1][0] == EPOCH_MICROS + count - 1
    assert store.get(view, "message", "m04999") == {"n": 4999, "status": "DELIVERED",
                                                    "to": "+447700900123"}
    with store.write(view, 2) as w:  # and as many replaced and deleted in one go
        for n in range(0, count, 2):
            w.delete("message", f"m{n:05}")
        for n in range(1, count, 2):
            w.put("message", f"m{n:05}", {"n": -n}, partition="acme", position=n)
    rows = list(store.scan_all(view, "message", "acme"))
    assert [doc["n"] for _, doc in rows] == [-n for n in range(1, count, 2)]
