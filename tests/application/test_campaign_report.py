"""The campaign report's breakdowns: from the audit's own replay, adding up to its funnel."""

from datetime import timedelta

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.ports import SendRefused, Unknown
from support.statuses import outcome

HR, HR2, DE = "+385921234567", "+385921234568", "+4915123456789"


def send(ledger, to=HR, campaign="spring"):
    (result,) = ledger.send("acme", [SendRequest(customer_id="c", to=to, text="Hi",
                                                 campaign_id=campaign)])
    return result.message_id


def test_the_breakdowns_add_up_to_the_audit(ledger, clock, provider):
    delivered, failed, rejected, german = send(ledger), send(ledger, HR2), send(ledger), send(ledger, DE)
    provider.answer = lambda m: SendRefused(m.message_id, 400, "BAD_REQUEST", "bad sender")
    refused = send(ledger)
    provider.answer = lambda m: Unknown(m.message_id, "timeout")
    send(ledger)  # stays unresolved: no reason, no report
    send(ledger, campaign="other")
    ledger.record_reports("acme", [
        ProviderReport(delivered, outcome("DELIVERED_TO_HANDSET", done_at=clock.now())),
        ProviderReport(failed, outcome("UNDELIVERABLE_NOT_DELIVERED", done_at=clock.now(),
                                       error="EC_ABSENT_SUBSCRIBER_SM")),
        ProviderReport(rejected, outcome("REJECTED_NETWORK", done_at=clock.now())),
        # A conflicting final report changes nothing, here or in the audit.
        ProviderReport(delivered, outcome("REJECTED_NETWORK", done_at=clock.now())),
    ])
    clock.advance(timedelta(days=4, minutes=1))
    ledger.close_due_windows()

    report = ledger.campaign_report("acme", "spring", recipient=HR2)
    assert report.audit == ledger.audit("acme", "spring")
    reasons = {(r.outcome, r.name, r.code_kind): r for r in report.errors}
    assert set(reasons) == {("failed", "EC_ABSENT_SUBSCRIBER_SM", "error"),
                            ("rejected", "REJECTED_NETWORK", "status"),
                            ("enqueue_failed", "BAD_REQUEST", "http")}
    assert reasons["failed", "EC_ABSENT_SUBSCRIBER_SM", "error"].examples == (failed,)
    assert reasons["enqueue_failed", "BAD_REQUEST", "http"].code == 400
    assert reasons["enqueue_failed", "BAD_REQUEST", "http"].examples == (refused,)
    countries = {row.country: row for row in report.countries}
    assert countries["DE"].expects_reports is False and countries["DE"].delivered_rate is None
    assert countries["DE"].counts["no_report_expected"] == 1
    assert countries["HR"].counts["requested"] == 5 and countries["HR"].counts["enqueued"] == 3
    assert countries["HR"].delivered_rate == round(100 / 3, 1)
    assert sum(row.counts["requested"] for row in report.countries) == report.audit.counts["requested"]
    assert sum(b.delivered for b in report.series) == 1 and sum(b.failed for b in report.series) == 2
    assert report.number_matches == [failed]
    assert german not in report.number_matches


def test_as_of_leaves_later_reports_out_of_every_breakdown(ledger, clock):
    message_id = send(ledger)
    before = clock.now()
    clock.advance(timedelta(hours=1))
    ledger.record_reports("acme", [ProviderReport(message_id, outcome(
        "UNDELIVERABLE_NOT_DELIVERED", done_at=clock.now(), error="EC_ABSENT_SUBSCRIBER_SM"))])
    earlier = ledger.campaign_report("acme", "spring", as_of=before)
    assert earlier.audit.counts["pending"] == 1 and earlier.errors == [] and earlier.series == []
    now = ledger.campaign_report("acme", "spring")
    assert [r.name for r in now.errors] == ["EC_ABSENT_SUBSCRIBER_SM"]


def test_the_series_keeps_empty_periods_so_its_axis_is_time(ledger, clock):
    first, second = send(ledger), send(ledger, HR2)
    ledger.record_reports("acme", [ProviderReport(first, outcome("DELIVERED_TO_HANDSET",
                                                                 done_at=clock.now()))])
    clock.advance(timedelta(hours=3))
    ledger.record_reports("acme", [ProviderReport(second, outcome("DELIVERED_TO_HANDSET",
                                                                  done_at=clock.now()))])
    report = ledger.campaign_report("acme", "spring")
    assert report.bucket_seconds == 300  # 3 hours in at most 48 buckets
    assert [b.delivered for b in report.series][0] == 1 and report.series[-1].delivered == 1
    assert len(report.series) in (36, 37) and sum(b.delivered for b in report.series) == 2
