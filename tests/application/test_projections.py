"""Read models: rebuilt from zero they are identical; they follow the store."""

from datetime import timedelta

import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.ports import SendRefused, Unknown
from smsledger.adapters.store.memory_read_store import MemoryReadStore
from smsledger.application.background import BackgroundRun
from smsledger.application.projection_runner import ProjectionRunner
from smsledger.application.projections import (
    CAMPAIGN_INDEX,
    FEED,
    HISTORY,
    HistoryProjection,
    STATISTICS,
    all_projections,
)
from support.statuses import outcome


@pytest.fixture
def busy_ledger(ledger, provider, clock):
    """A store with every kind of history: refused, unknown, delivered, failed,
    duplicates, late reports, closed windows, two projects."""
    sent = ledger.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi " * i,
                                            campaign_id="spring") for i in range(1, 30)])
    provider.answer = lambda m: SendRefused(m.message_id, 400, "BAD_REQUEST", "no")
    ledger.send("acme", [SendRequest(customer_id="r", to="+385921234567", text="x", campaign_id="spring")])
    provider.answer = lambda m: Unknown(m.message_id, "timeout")
    ledger.send("globex", [SendRequest(customer_id="u", to="+4915123456789", text="x", campaign_id="spring")])
    reports = [ProviderReport(r.message_id, outcome(status, done_at=clock.now()))
               for r, status in zip(sent[:20], ["DELIVERED_TO_HANDSET", "REJECTED_NETWORK",
                                                "PENDING_ENROUTE", "EXPIRED_EXPIRED"] * 5)]
    ledger.record_reports("acme", reports + reports[:5])
    clock.advance(timedelta(days=5))
    ledger.close_due_windows()
    ledger.record_reports("acme", [ProviderReport(sent[25].message_id, outcome("DELIVERED_TO_HANDSET"))])
    ledger.rename_campaign_event("acme", "sms", changed_by="admin")
    return ledger, [r.message_id for r in sent]


def snapshot(ledger, message_ids):
    return {
        "feed": [e.to_dict() for e in ledger.campaign_events("acme", limit=10_000).events],
        "globex": [e.to_dict() for e in ledger.campaign_events("globex", limit=10_000).events],
        "statistics": ledger.statistics("acme", "spring").to_doc(),
        "history": [[h.to_dict() for h in ledger.message("acme", m).history] for m in message_ids],
        "audit": ledger.audit("acme", "spring").to_dict(),
    }


def test_every_projection_rebuilt_from_zero_is_identical(busy_ledger):
    ledger, message_ids = busy_ledger
    before = snapshot(ledger, message_ids)
    assert before["audit"]["drift"] == []
    assert before["audit"]["late"] == 1 and before["audit"]["no_report_received"] == 13
    for name in (FEED, STATISTICS, HISTORY, CAMPAIGN_INDEX):
        old_view = ledger.read_store.live_view(name)
        new_view = ledger.rebuild_projection(name)
        assert new_view != old_view
        assert ledger.read_store.live_view(name) == new_view
    assert snapshot(ledger, message_ids) == before


class CountingMapper:
    """The ledger's mapper, counting the notifications it decodes."""

    def __init__(self, mapper):
        self.mapper, self.decoded = mapper, []

    def to_domain_event(self, notification):
        self.decoded.append(notification.id)
        return self.mapper.to_domain_event(notification)


def positions_of(read_store, projections):
    """Each live view's position, by projection."""
    found = {}
    for projection in projections:
        view = read_store.live_view(projection.name)
        found[projection.name] = read_store.position(view)
    return found


def test_projections_caught_up_together_decode_each_notification_once(busy_ledger):
    """One read and one decoding per notification for all projections, however many
    want it, and every view at the head afterwards, as when caught up one by one."""
    ledger, message_ids = busy_ledger
    projections = all_projections()
    topics = sorted({t for p in projections for t in p.topics})
    wanted = [n.id for n in ledger.recorder.select_notifications(
        start=0, limit=1_000_000, topics=topics, inclusive_of_start=False)]
    mapper = CountingMapper(ledger.mapper)
    together = ProjectionRunner(ledger.recorder, mapper, MemoryReadStore(), projections,
                                batch_size=50)
    together.catch_up()
    assert sorted(mapper.decoded) == wanted  # each once
    head = ledger.recorder.max_notification_id()
    assert set(positions_of(together.store, projections).values()) == {wanted[-1]}
    assert wanted[-1] <= head

    # The same documents as views caught up one at a time.
    alone = ProjectionRunner(ledger.recorder, ledger.mapper, MemoryReadStore(), projections,
                             batch_size=50)
    for projection in projections:
        alone.catch_up([projection.name])
    for kind, partition, name in (("event", "acme", FEED), ("event", "globex", FEED),
                                  ("member", "acme\x1fspring", CAMPAIGN_INDEX)):
        assert list(together.store.scan_all(together.store.live_view(name), kind, partition)) \
            == list(alone.store.scan_all(alone.store.live_view(name), kind, partition))


def test_views_caught_up_one_after_the_other_decode_each_notification_once(busy_ledger):
    """The background round reads a notification once for the feed and once for the
    views behind it, and a read's catch-up may follow the round: the runner keeps the
    events it decoded lately, so each is decoded once all the same."""
    ledger, _ = busy_ledger
    mapper = CountingMapper(ledger.mapper)
    runner = ProjectionRunner(ledger.recorder, mapper, MemoryReadStore(), all_projections(),
                              batch_size=100)
    runner.catch_up([FEED])
    runner.catch_up([STATISTICS, HISTORY])
    runner.catch_up()
    assert mapper.decoded and len(mapper.decoded) == len(set(mapper.decoded))


class StoringMore:
    """The real recorder; `more()` runs once, when the runner asks for its second
    batch: events stored while a catch-up is under way."""

    def __init__(self, recorder, more):
        self.recorder, self.more, self.batches = recorder, more, 0

    def select_notifications(self, *args, **kwargs):
        self.batches += 1
        if self.batches == 2:
            self.more()
        return self.recorder.select_notifications(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.recorder, name)


def test_a_catch_up_stops_at_the_head_it_found(busy_ledger):
    """A read catches its view up to what was stored when it began, not to what keeps
    arriving meanwhile (a stream of webhooks would keep it reading); the next catch-up
    takes the rest."""
    ledger, _ = busy_ledger
    history_topics = HistoryProjection().topics
    head = ledger.recorder.select_notifications(  # the last history event stored by now
        start=0, limit=1_000_000, topics=history_topics, inclusive_of_start=False)[-1].id
    more = StoringMore(ledger.recorder, lambda: ledger.send("acme", [
        SendRequest(customer_id=f"late{i}", to="+385921234567", text="x") for i in range(5)]))
    runner = ProjectionRunner(more, ledger.mapper, MemoryReadStore(), all_projections(),
                              batch_size=7)
    runner.catch_up([HISTORY])
    view = runner.store.live_view(HISTORY)
    assert runner.store.position(view) == head < ledger.recorder.max_notification_id()
    runner.catch_up([HISTORY])
    assert runner.store.position(view) == ledger.recorder.max_notification_id()


def test_views_at_different_positions_are_each_fed_from_their_own(busy_ledger):
    """A view ahead (here: caught up alone first) is not fed again what it has."""
    ledger, _ = busy_ledger
    projections = all_projections()
    runner = ProjectionRunner(ledger.recorder, ledger.mapper, MemoryReadStore(), projections,
                              batch_size=7)
    runner.catch_up([STATISTICS])
    funnel_before = runner.store.get(runner.store.live_view(STATISTICS), "campaign",
                                     "acme\x1fspring")
    runner.catch_up()
    assert runner.store.get(runner.store.live_view(STATISTICS), "campaign",
                            "acme\x1fspring") == funnel_before
    assert funnel_before == ledger.statistics("acme", "spring").to_doc()


class WriteLog(MemoryReadStore):
    """A read store noting which view each committed batch moved, and to where."""

    def __init__(self):
        super().__init__()
        self.moves = []

    def write(self, view, position, *, after=None):
        self.moves.append((view.rsplit("_v", 1)[0], position))  # the projection's name
        return super().write(view, position, after=after)


def test_the_background_round_keeps_the_feed_ahead_of_the_other_views(busy_ledger):
    """The feed (the platform's contract) reaches the head before the other views have
    taken their second batch, and every view ends at the head, each event applied once."""
    ledger, _ = busy_ledger
    projections = all_projections()
    store = WriteLog()
    runner = ProjectionRunner(ledger.recorder, ledger.mapper, store, projections, batch_size=7)
    feed_topics = projections[0].topics
    feed_head = ledger.recorder.select_notifications(
        start=0, limit=1_000_000, topics=feed_topics, inclusive_of_start=False)[-1].id
    runner.keep_current()
    moved = [view for view, _ in store.moves]
    feed_done = store.moves.index((FEED, feed_head))
    assert moved[:feed_done + 1].count(STATISTICS) <= 1
    assert moved[:feed_done + 1].count(FEED) > 2  # it took several batches alone
    # The same views as the projections caught up together in one go.
    together = ProjectionRunner(ledger.recorder, ledger.mapper, MemoryReadStore(), projections)
    together.catch_up()
    for projection in projections:
        view, expected = store.live_view(projection.name), together.store.live_view(projection.name)
        assert store.position(view) == together.store.position(expected) > 0
    for kind, partition, name in (("event", "acme", FEED), ("event", "globex", FEED),
                                  ("member", "acme\x1fspring", CAMPAIGN_INDEX)):
        assert list(store.scan_all(store.live_view(name), kind, partition)) == list(
            together.store.scan_all(together.store.live_view(name), kind, partition))


class Streaming:
    """The real recorder, with webhooks arriving: each read of notifications is
    followed by `store_more()`, `reads` times over."""

    def __init__(self, recorder, store_more, reads):
        self.recorder, self.more, self.left = recorder, store_more, reads

    def __getattr__(self, name):
        return getattr(self.recorder, name)

    def select_notifications(self, *args, **kwargs):
        found = self.recorder.select_notifications(*args, **kwargs)
        if self.left:
            self.left -= 1
            self.more()
        return found


def test_under_a_steady_stream_the_other_views_still_get_their_turns(busy_ledger):
    """The feed goes first, but it does not chase a head that keeps moving: the other
    views take batches while the stream lasts, not only after it ends."""
    ledger, _ = busy_ledger
    store = WriteLog()
    # Seven messages per read: seven feed events (the fixture's provider leaves each
    # message's fate unknown), a whole batch, so the feed never finds itself at the head.
    streaming = Streaming(ledger.recorder, lambda: ledger.send("acme", [
        SendRequest(customer_id=f"s{i}", to="+385921234567", text="x") for i in range(7)]),
        reads=60)
    runner = ProjectionRunner(streaming, ledger.mapper, store, all_projections(), batch_size=7)
    stream_ended_after = None

    def note_end(view, position, *, after=None):
        nonlocal stream_ended_after
        if streaming.left == 0 and stream_ended_after is None:
            stream_ended_after = len(store.moves)
        return WriteLog.write(store, view, position, after=after)

    store.write = note_end
    runner.keep_current()
    assert stream_ended_after is not None
    during = [view for view, _ in store.moves[:stream_ended_after]]
    assert during.count(FEED) > 2
    assert during.count(STATISTICS) >= 2  # the old round gave it none until the stream ended
    assert store.position(store.live_view(STATISTICS)) == ledger.recorder.max_notification_id()


def test_a_projection_is_caught_up_before_it_is_read(ledger):
    (sent,) = ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
    view = ledger.read_store.live_view(FEED)
    assert ledger.read_store.position(view) == 0  # nothing read yet
    assert [e.status for e in ledger.campaign_events("acme").events] == ["enqueued"]
    assert ledger.read_store.position(view) == ledger.recorder.max_notification_id()


def test_the_statistics_follow_each_change(ledger, clock):
    (sent,) = ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi",
                                               campaign_id="spring")])
    assert ledger.statistics("acme", "spring").counts["pending"] == 1
    ledger.record_reports("acme", [ProviderReport(sent.message_id, outcome("DELIVERED_TO_HANDSET"))])
    counts = ledger.statistics("acme", "spring").counts
    assert (counts["pending"], counts["delivered"], counts["enqueued"]) == (0, 1, 1)
    assert ledger.statistics("acme", "nope").counts["requested"] == 0


def test_an_unknown_projection_name_is_a_clear_error(ledger):
    with pytest.raises(KeyError, match="no projection 'nope'; there are: feed, statistics, history"):
        ledger.rebuild_projection("nope")


def test_the_background_runner_keeps_every_view_at_the_head(ledger):
    import time

    background = BackgroundRun("projections", ledger.projections.keep_current, interval=0.02)
    try:
        ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
        head = ledger.recorder.max_notification_id()
        deadline = time.monotonic() + 10
        positions = {}
        while time.monotonic() < deadline:
            positions = {name: ledger.read_store.position(ledger.read_store.live_view(name))
                         for name in (FEED, STATISTICS, HISTORY)}
            if set(positions.values()) == {head}:
                break
            time.sleep(0.02)
        assert positions == dict.fromkeys((FEED, STATISTICS, HISTORY), head)
    finally:
        background.stop()
