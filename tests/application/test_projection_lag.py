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
