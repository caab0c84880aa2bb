"""Each projection's lag: the events it has not applied, and how long the oldest of
them has waited, measured against the store whichever process asks."""

from smsledger.application.commands import SendRequest
from smsledger.application.projection_lag import LagWatch
from smsledger.application.projections import CAMPAIGN_INDEX, FEED, HISTORY, STATISTICS


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def send(ledger, count):
    ledger.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi",
                                     campaign_id="spring") for i in range(count)])


def test_events_waiting_are_counted_per_projection_and_their_wait_timed(ledger):
    clock = Clock()
    watch = LagWatch(ledger.projections, clock)
    ledger.projections.catch_up()
    assert {name: (lag.events, lag.seconds) for name, lag in watch.measure().items()} == {
        name: (0, 0.0) for name in (FEED, STATISTICS, HISTORY, CAMPAIGN_INDEX)}

    send(ledger, 3)  # requested, handed over, enqueued: history has all three
    first = watch.measure()
    assert (first[FEED].events, first[STATISTICS].events, first[HISTORY].events,
            first[CAMPAIGN_INDEX].events) == (6, 6, 9, 3)
    assert first[FEED].seconds == 0.0  # first seen now: stored no earlier than this

    clock.now += 7.5
    send(ledger, 1)
    later = watch.measure()
    assert later[FEED].events == 8 and later[FEED].seconds == 7.5  # the oldest waits on

    ledger.projections.catch_up([FEED])
    caught_up = watch.measure()
    assert (caught_up[FEED].events, caught_up[FEED].seconds) == (0, 0.0)
    assert caught_up[STATISTICS].events == 8


def test_scrapes_measuring_at_once_in_threads_do_not_trip_over_each_other():
    """Two Prometheus servers may scrape one process at the same moment: each scrape
    notes the store's head while another looks up when an event was first seen."""
    import sys
    import threading

    watch = LagWatch.__new__(LagWatch)  # only its record of heads is at stake here
    watch._heads = __import__("collections").deque(((i, i) for i in range(10_000)),
                                                   maxlen=10_000)
    errors = []

    def looking_up():
        for _ in range(2_000):
            try:
                watch._stored_by(9_999)
            except RuntimeError as error:  # "deque mutated during iteration"
                errors.append(error)

    def noting_heads():
        for when in range(200_000):
            watch._heads.append((when, 0))

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns often, as under load
    try:
        threads = [threading.Thread(target=looking_up), threading.Thread(target=noting_heads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switching)
    assert errors == []
