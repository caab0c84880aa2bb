"""Any order and any duplication of one message's reports gives the same final
status and the same campaign events (hypothesis explores the orders)."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.domain.campaign_events import campaign_event_for
from support.statuses import outcome
from unit.test_message import T0, new_message

SENT = T0 + timedelta(seconds=1)
FINALS = [("DELIVERED_TO_HANDSET", None), ("REJECTED_NETWORK", None),
          ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNIDENTIFIED_SUBSCRIBER"),
          ("UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER_SM"), ("EXPIRED_EXPIRED", None)]


@st.composite
def report_histories(draw):
    """The reports Infobip may send for one message: pending ones, then one final,
    which may be repeated; then shuffled with duplicates, as callbacks arrive."""
    pending = [
        outcome(draw(st.sampled_from(["PENDING_ACCEPTED", "PENDING_ENROUTE"])), sent_at=SENT,
                done_at=SENT + timedelta(seconds=draw(st.integers(0, 100))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    status, error = draw(st.sampled_from(FINALS))
    final = outcome(status, error=error, sent_at=SENT, parts=draw(st.integers(1, 4)),
                    done_at=SENT + timedelta(seconds=draw(st.integers(101, 10_000))))
    canonical = pending + [final]
    arrived = draw(st.permutations(canonical + draw(st.lists(st.sampled_from(canonical), max_size=6))))
    return canonical, arrived


def replay(reports, *, already_enqueued):
    message = new_message()
    if already_enqueued:
        message.accept(at=SENT, parts=1)
    for i, report in enumerate(reports):
        message.record_report(report, received_at=SENT + timedelta(minutes=10 + i))
    events = [campaign_event_for(e, message.identity) for e in message.collect_events()]
    return message.status, [e.to_dict() for e in events if e is not None]


@settings(max_examples=300, deadline=None)
@given(history=report_histories(), already_enqueued=st.booleans())
def test_order_and_duplication_do_not_change_the_outcome(history, already_enqueued):
    canonical, arrived = history
    assert replay(arrived, already_enqueued=already_enqueued) == replay(
        canonical, already_enqueued=already_enqueued)
