from datetime import timedelta

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.ports import Unknown
from support.statuses import outcome

CROATIA, GERMANY = "+385921234567", "+4915123456789"


def send(ledger, to=CROATIA, **kwargs):
    (result,) = ledger.send("acme", [SendRequest(customer_id="c-1", to=to, text="Hi",
                                                 campaign_id="spring", **kwargs)])
    return result.message_id


def test_a_batch_of_reports_is_applied_and_counted(ledger, clock):
    ids = [send(ledger) for _ in range(3)]
    reports = [ProviderReport(i, outcome("DELIVERED_TO_HANDSET", done_at=clock.now())) for i in ids]
    reports.append(ProviderReport(ids[0], outcome("PENDING_ENROUTE", done_at=clock.now())))
    result = ledger.record_reports("acme", reports)
    assert (result.applied, result.noted, result.parked) == (3, 1, 0)
    assert {ledger.message("acme", i).status for i in ids} == {"delivered"}


def test_the_same_callback_twice_counts_once(ledger, clock):
    message_id = send(ledger)
    callback = [ProviderReport(message_id, outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))]
    assert ledger.record_reports("acme", callback).applied == 1
    again = ledger.record_reports("acme", callback)
    assert (again.applied, again.noted) == (0, 1)
    assert [e.status for e in ledger.campaign_events("acme").events] == ["enqueued", "delivered"]


def test_a_report_cannot_reach_another_projects_message(ledger, clock):
    message_id = send(ledger)
    result = ledger.record_reports("other", [ProviderReport(message_id, outcome("DELIVERED_TO_HANDSET"))])
    assert result.parked == 1
    assert ledger.message("acme", message_id).status == "enqueued"


def test_a_report_for_an_unknown_id_is_parked_then_applied_when_the_message_appears(ledger, clock):
    early = ProviderReport("order-7", outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))
    assert ledger.record_reports("acme", [early]).parked == 1
    send(ledger, message_id="order-7")
    ledger.close_due_windows()
    assert ledger.message("acme", "order-7").status == "delivered"
    ledger.close_due_windows()  # released once only
    assert [h.event for h in ledger.message("acme", "order-7").history].count("Delivered") == 1


def test_waiting_windows_close_after_four_days(ledger, clock):
    croatian, german, delivered = send(ledger), send(ledger, GERMANY), send(ledger)
    ledger.record_reports("acme", [ProviderReport(delivered, outcome("DELIVERED_TO_HANDSET"))])
    clock.advance(timedelta(days=4) - timedelta(seconds=1))
    assert ledger.close_due_windows() == 0
    clock.advance(timedelta(seconds=1))
    assert ledger.close_due_windows() == 2
    assert ledger.message("acme", croatian).window_closed == "no_report_received"
    assert ledger.message("acme", german).window_closed == "no_report_expected"
    assert ledger.message("acme", delivered).window_closed is None
    assert ledger.close_due_windows() == 0


def test_a_requested_message_has_no_window(ledger, clock, provider):
    provider.answer = lambda m: Unknown(m.message_id, "timeout")
    message_id = send(ledger)
    clock.advance(timedelta(days=10))
    assert ledger.close_due_windows() == 0
    assert ledger.message("acme", message_id).status == "requested"


def test_history_is_oldest_first_with_details(ledger, clock):
    message_id = send(ledger)
    clock.advance(timedelta(seconds=5))
    ledger.record_reports("acme", [ProviderReport(message_id, outcome(
        "UNDELIVERABLE_NOT_DELIVERED", error="EC_UNIDENTIFIED_SUBSCRIBER", done_at=clock.now()))])
    view = ledger.message("acme", message_id)
    assert view.status == "failed"
    assert [h.event for h in view.history] == ["Requested", "HandedOver", "Enqueued", "Failed"]
    assert view.history[-1].details["outcome"]["error_name"] == "EC_UNIDENTIFIED_SUBSCRIBER"
    assert view.to_dict()["history"][0]["event"] == "Requested"
