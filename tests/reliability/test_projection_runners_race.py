"""Promise: nothing is counted twice, even when two projection runners overlap.

The service keeps its projections current in a background thread, every read catches
its projection up first, and `serve --workers N` runs one of each per worker: several
runners feed the same view. Found by `smsledger bench soak` on PostgreSQL (an audit's
`drift`: the statistics counted 100 messages' parts twice): runner A reads the batch
after position p, runner B reads a longer batch after the same p (more was stored in
between); A commits first, then B's batch, which holds A's events again, moved the
position on and was applied too. A batch is now written only if the view is still where
the batch was read from, so B is refused and reads on from A's position.

The interleaving is made deterministic by a recorder that lets runner A catch up while
runner B holds its batch (the real recorder underneath, on the real store)."""

from __future__ import annotations

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.runtime.config import load_settings
from smsledger.application.commands import SendRequest
from smsledger.application.projection_runner import ProjectionRunner
from smsledger.application.projections import STATISTICS, all_projections
from support.providers import ScriptedProvider

FIRST, MORE = 30, 20


class CatchUpOtherFirst:
    """The real recorder; the first batch it hands out is held until `other` ran."""

    def __init__(self, recorder, other):
        self.recorder, self.other, self.done = recorder, other, False

    def select_notifications(self, *args, **kwargs):
        batch = self.recorder.select_notifications(*args, **kwargs)
        if not self.done:
            self.done = True
            self.other()
        return batch

    def __getattr__(self, name):
        return getattr(self.recorder, name)


class UpTo:
    """The real recorder, showing notifications up to `stop` only: a runner that read
    its batch before the later events were stored."""

    def __init__(self, recorder, stop):
        self.recorder, self.stop = recorder, stop

    def select_notifications(self, start, limit, stop=None, topics=(), *,
                             inclusive_of_start=True):
        return self.recorder.select_notifications(
            start, limit, stop=self.stop, topics=topics, inclusive_of_start=inclusive_of_start)

    def __getattr__(self, name):
        return getattr(self.recorder, name)


def send(ledger, start, count):
    ledger.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi",
                                     campaign_id="spring", message_id=f"m-{i}")
                         for i in range(start, start + count)])


def test_overlapping_runners_count_every_event_once(durable_store_url):
    settings = load_settings(database_url=durable_store_url,
                             secret_key="race-test-secret-key-0123456789")
    ledger = build_ledger(settings, provider=ScriptedProvider())
    try:
        send(ledger, 0, FIRST)
        first_head = ledger.recorder.max_notification_id()
        send(ledger, FIRST, MORE)
        runner_a = ProjectionRunner(UpTo(ledger.recorder, first_head), ledger.mapper,
                                    ledger.read_store, all_projections())
        # B reads every event, then A (which had read the first sends only) commits
        # before B does.
        runner_b = ProjectionRunner(
            CatchUpOtherFirst(ledger.recorder, lambda: runner_a.catch_up([STATISTICS])),
            ledger.mapper, ledger.read_store, all_projections())
        runner_b.catch_up([STATISTICS])

        funnel = ledger.statistics("acme", "spring")
        assert (funnel.counts["requested"], funnel.counts["enqueued"]) == (FIRST + MORE,
                                                                         FIRST + MORE)
        assert funnel.parts == FIRST + MORE
        assert ledger.audit("acme", "spring").drift == []
    finally:
        ledger.close()
