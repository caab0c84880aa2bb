"""Event subscriptions' delivery (application/subscription_delivery.py) with a fake
receiver and a clock moved by hand, on each store (memory, SQLite, PostgreSQL): in
feed order and in batches of 100, never skipping, the statuses filter, retries with
backoff, disabling once the budget is spent, replay, secrets, and a delivery that a
replay overtook not writing its older position over it.

Every request's signature is checked with the `standardwebhooks` package's own
signing (its `verify` also compares the timestamp with the real time, which a
manual clock does not keep)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook

from smsledger.adapters.bootstrap import build_subscription_delivery
from smsledger.adapters.runtime.config import load_settings
from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.errors import ProjectNotFound
from smsledger.domain.errors import InvalidInput
from smsledger.domain.project import InvalidSettings
from smsledger.domain.subscriptions import InvalidSubscription, UnknownSubscription
from support.statuses import outcome

URL = "https://93.184.215.14/hooks/sms"  # public, and an address: nothing to resolve
OTHER_URL = "https://93.184.215.15/hooks/sms"
FIRST, CAP, BUDGET = 10, 40, 300  # seconds


class Receiver:
    """The platform's receivers (any URL), as the SubscriptionPoster port sees them:
    each request recorded, its signatures checked against the secrets the test knows,
    answered by `answers` (None: 2xx), in turn per URL, then 2xx."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: dict[str, list[str | None]] = {}
        self.secrets: list[str] = []
        self.during_post = None  # called in the middle of a post, to race with it

    def post(self, url, body, headers):
        signatures = headers["webhook-signature"].split(" ")
        verified = [secret for secret in self.secrets
                    if self._sign(secret, headers, body) in signatures]
        self.requests.append({"url": url, "id": headers["webhook-id"], "verified": verified,
                              "signatures": len(signatures), **json.loads(body)})
        if self.during_post is not None:
            self.during_post()
        queued = self.answers.get(url, [])
        return queued.pop(0) if queued else None

    @staticmethod
    def _sign(secret, headers, body):
        moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
        return Webhook(secret).sign(headers["webhook-id"], moment, body.decode())

    def event_ids(self, url=URL):
        return [e["event_id"] for r in self.requests if r["url"] == url for e in r["events"]]


@pytest.fixture
def receiver():
    return Receiver()


@pytest.fixture
def ledger(make_ledger):
    ledger = make_ledger()
    ledger.projects.create_project("acme")
    return ledger


@pytest.fixture
def delivery(ledger, receiver, clock):
    settings = load_settings(database_url="memory://", subscription_backoff_first_seconds=FIRST,
                             subscription_backoff_max_seconds=CAP,
                             subscription_retry_budget_seconds=BUDGET)
    return build_subscription_delivery(settings, ledger, receiver, clock=clock)


def subscribe(delivery, receiver, name="crm", url=URL, **options):
    view = delivery.subscriptions.put("acme", name, url=url, changed_by="admin-token",
                                      statuses=options.pop("statuses", []), **options)
    receiver.secrets.append(view.secret)
    return view


def send(ledger, n, start=0):
    return [r.message_id for r in ledger.send("acme", [
        SendRequest(customer_id=f"c-{i}", to="+385921234567", text="Spring sale",
                    campaign_id="spring") for i in range(start, start + n)])]


def feed(ledger):
    return [e.event_id for e in ledger.campaign_events("acme", limit=10_000).events]


def test_every_event_arrives_once_in_feed_order_in_batches_of_at_most_100(
        ledger, delivery, receiver):
    subscribe(delivery, receiver)
    send(ledger, 150)
    done = delivery.run_round()
    assert (done.requests, done.events, done.failures) == (2, 150, 0)
    assert [len(r["events"]) for r in receiver.requests] == [100, 50]
    assert receiver.event_ids() == feed(ledger)
    assert all(r["verified"] == receiver.secrets for r in receiver.requests)
    assert receiver.requests[0]["events"][0]["event"] == "campaign"
    # `next` is the feed's cursor after the batch: what a replay takes.
    assert receiver.requests[-1]["next"] == str(ledger.campaign_events("acme", limit=1000).next)
    view = delivery.subscriptions.get("acme", "crm")
    assert (view.lag, view.delivered, view.failures, view.last_error) == (0, 150, 0, None)
    assert view.position == int(receiver.requests[-1]["next"])
    assert view.secret == "whsec_****" + receiver.secrets[0].rstrip("=")[-4:]  # shown once
    assert delivery.run_round().requests == 0  # caught up: nothing again


def test_events_arriving_later_follow_from_the_position(ledger, delivery, receiver):
    subscribe(delivery, receiver)
    ids = send(ledger, 3)
    delivery.run_round()
    ledger.record_reports("acme", [ProviderReport(i, outcome("DELIVERED_TO_HANDSET")) for i in ids])
    ledger.rename_campaign_event("acme", "sms_status", changed_by="admin-token")
    delivery.run_round()
    assert [len(r["events"]) for r in receiver.requests] == [3, 3]
    assert receiver.event_ids() == feed(ledger)
    assert receiver.requests[1]["events"][0]["event"] == "sms_status"  # the name in force


def test_the_filter_posts_only_its_statuses_and_the_position_moves_past_the_others(
        ledger, delivery, receiver):
    subscribe(delivery, receiver, statuses=["delivered"])
    ids = send(ledger, 3)
    assert delivery.run_round().requests == 0  # only `enqueued` events so far
    assert delivery.subscriptions.get("acme", "crm").lag == 0
    ledger.record_reports("acme", [ProviderReport(i, outcome("DELIVERED_TO_HANDSET"))
                                   for i in ids[:2]])
    delivery.run_round()
    assert [e["properties"]["status"] for r in receiver.requests for e in r["events"]] == [
        "delivered", "delivered"]
    view = delivery.subscriptions.get("acme", "crm")
    assert (view.lag, view.delivered) == (0, 2)


def test_a_failing_receiver_is_retried_with_backoff_and_gets_the_same_batch_again(
        ledger, delivery, receiver, clock):
    subscribe(delivery, receiver)
    send(ledger, 5)
    first_five = feed(ledger)
    receiver.answers[URL] = ["the receiver answered HTTP 500"] * 3
    waits = []
    for attempt in range(3):
        assert delivery.run_round().failures == 1
        if attempt == 0:
            send(ledger, 2, start=5)  # they come after the batch being retried
        view = delivery.subscriptions.get("acme", "crm")
        waits.append((view.next_attempt_at - clock.now()).total_seconds())
        assert delivery.run_round().subscriptions == 0  # not due before its time
        clock.advance(view.next_attempt_at - clock.now())
    assert waits == [FIRST, 2 * FIRST, 4 * FIRST]
    assert delivery.run_round().requests == 2  # the batch retried, then what came since
    assert len({r["id"] for r in receiver.requests[:4]}) == 1  # one batch, retried as it was
    assert receiver.event_ids() == first_five * 4 + feed(ledger)[5:]
    assert len(feed(ledger)) == 7
    view = delivery.subscriptions.get("acme", "crm")
    assert (view.lag, view.failures, view.failing_since, view.next_attempt_at) == (0, 0, None, None)
    assert view.last_error == "the receiver answered HTTP 500" and view.last_success_at


def test_once_failures_outlast_the_budget_the_subscription_is_disabled_with_the_reason(
        ledger, delivery, receiver, clock):
    subscribe(delivery, receiver)
    send(ledger, 2)
    receiver.answers[URL] = ["no answer within 10 s (ReadTimeout)"] * 100
    started = clock.now()
    while delivery.subscriptions.get("acme", "crm").enabled:
        assert clock.now() - started <= timedelta(seconds=BUDGET + CAP)
        delivery.run_round()
        view = delivery.subscriptions.get("acme", "crm")
        if view.next_attempt_at:
            clock.advance(view.next_attempt_at - clock.now())
    view = delivery.subscriptions.get("acme", "crm")
    assert "retry budget" in view.disabled_reason
    assert "no answer within 10 s (ReadTimeout)" in view.disabled_reason
    assert view.position == 0 and view.lag == 2  # nothing skipped
    attempts = len(receiver.requests)
    send(ledger, 1, start=2)
    clock.advance(timedelta(hours=1))
    assert delivery.run_round().subscriptions == 0 and len(receiver.requests) == attempts
    history = ledger.projects.history("acme")
    assert (history[-1]["event"], history[-1]["changed_by"]) == ("SubscriptionDisabled",
                                                               "delivery")

    # Enabled again (the receiver is back): on from where it stopped, missed events too.
    receiver.answers[URL] = []
    enabled = subscribe(delivery, receiver)
    assert enabled.enabled and enabled.disabled_reason is None and enabled.failures == 0
    assert "****" in enabled.secret  # the secret is not shown again
    delivery.run_round()
    assert receiver.requests[-1]["events"] and [
        e["event_id"] for e in receiver.requests[-1]["events"]] == feed(ledger)
    assert delivery.subscriptions.get("acme", "crm").lag == 0


def test_a_replay_delivers_again_from_the_cursor_under_new_webhook_ids(ledger, delivery, receiver):
    subscribe(delivery, receiver)
    send(ledger, 4)
    delivery.run_round()
    events = ledger.campaign_events("acme").events
    delivery.subscriptions.replay("acme", "crm", after=events[1].position)
    assert delivery.subscriptions.get("acme", "crm").lag == 2
    delivery.run_round()
    assert [e["event_id"] for e in receiver.requests[-1]["events"]] == [
        e.event_id for e in events[2:]]
    delivery.subscriptions.replay("acme", "crm", after=0)
    delivery.run_round()
    assert receiver.event_ids() == [e.event_id for e in events + events[2:] + events]
    assert len({r["id"] for r in receiver.requests}) == 3
    head = ledger.projections.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match=f"0 to {head}"):
        delivery.subscriptions.replay("acme", "crm", after=head + 1)


def test_a_delivery_overtaken_by_a_replay_does_not_write_its_older_position(
        ledger, delivery, receiver):
    """The receiver answers 2xx while a replay to 0 is made: the delivery's position
    must not overwrite the replay's (it was read before it), so the events are sent
    again, never skipped."""
    subscribe(delivery, receiver)
    send(ledger, 3)
    receiver.during_post = lambda: delivery.subscriptions.replay("acme", "crm", after=0)
    delivery.run_round()
    receiver.during_post = None
    assert delivery.subscriptions.get("acme", "crm").position == 0
    delivery.run_round()
    assert receiver.event_ids() == feed(ledger) * 2


def test_one_failing_receiver_does_not_hold_back_another(ledger, delivery, receiver):
    subscribe(delivery, receiver, name="crm")
    subscribe(delivery, receiver, name="erp", url=OTHER_URL)
    send(ledger, 3)
    receiver.answers[URL] = ["the receiver answered HTTP 503"]
    done = delivery.run_round()
    assert (done.subscriptions, done.requests, done.failures) == (2, 1, 1)
    assert receiver.event_ids(OTHER_URL) == feed(ledger)
    assert [r["verified"] for r in receiver.requests if r["url"] == OTHER_URL] == [
        [receiver.secrets[1]]]  # each subscription signs with its own secret


def test_a_rotated_secret_signs_beside_the_old_one_for_as_long_as_asked(
        ledger, delivery, receiver, clock):
    old = subscribe(delivery, receiver).secret
    rotated = delivery.subscriptions.rotate_secret("acme", "crm", changed_by="admin-token",
                                                   previous_valid_for=timedelta(hours=1))
    assert rotated.secret.startswith("whsec_") and rotated.secret != old
    receiver.secrets.append(rotated.secret)
    send(ledger, 1)
    delivery.run_round()
    assert receiver.requests[-1]["verified"] == [old, rotated.secret]
    clock.advance(timedelta(hours=1))
    send(ledger, 1, start=1)
    delivery.run_round()
    assert receiver.requests[-1]["verified"] == [rotated.secret]
    assert receiver.requests[-1]["signatures"] == 1
    assert "****" in delivery.subscriptions.get("acme", "crm").secret


def test_a_subscription_deleted_and_created_again_starts_over_with_a_new_secret(
        ledger, delivery, receiver):
    first = subscribe(delivery, receiver)
    send(ledger, 2)
    delivery.run_round()
    delivery.subscriptions.delete("acme", "crm", changed_by="admin-token")
    with pytest.raises(UnknownSubscription):
        delivery.subscriptions.get("acme", "crm")
    assert delivery.run_round().subscriptions == 0
    again = subscribe(delivery, receiver)
    assert again.secret != first.secret and again.position == 0 and again.lag == 2
    delivery.run_round()
    assert receiver.event_ids() == feed(ledger) * 2
    assert len({r["id"] for r in receiver.requests}) == 2  # new ids for the new subscription


def test_what_a_subscription_may_be(ledger, delivery, receiver):
    with pytest.raises(InvalidSubscription, match="url 'http://10.1.2.3/h' is not https"):
        subscribe(delivery, receiver, url="http://10.1.2.3/h")
    with pytest.raises(InvalidSubscription, match="url 'https://10.1.2.3/h' is not a public"):
        subscribe(delivery, receiver, url="https://10.1.2.3/h")
    with pytest.raises(InvalidSettings, match="subscription name 'CRM!' must be"):
        subscribe(delivery, receiver, name="CRM!")
    with pytest.raises(InvalidSubscription, match="unknown status"):
        subscribe(delivery, receiver, statuses=["sent"])
    with pytest.raises(ProjectNotFound):
        delivery.subscriptions.put("globex", "crm", url=URL, statuses=[], changed_by="x")
    for operation in (lambda: delivery.subscriptions.replay("acme", "nope", 0),
                      lambda: delivery.subscriptions.delete("acme", "nope", changed_by="x")):
        with pytest.raises(UnknownSubscription):
            operation()
    for number in range(20):
        subscribe(delivery, receiver, name=f"s{number}")
    with pytest.raises(InvalidSubscription, match="at most 20"):
        subscribe(delivery, receiver, name="one-more")
    assert [view.name for view in delivery.subscriptions.list("acme")][:3] == ["s0", "s1", "s10"]
    changes = [c for c in ledger.projects.history("acme") if c["event"].startswith("Subscription")]
    assert len(changes) == 20 and all(c["changed_by"] == "admin-token" for c in changes)


def test_the_address_rule_is_checked_again_before_every_request(
        make_ledger, receiver, clock):
    """Saved while the operator allowed private networks, then the rule tightened (the
    service restarted without it): nothing is sent there, and the admin is told why."""
    ledger = make_ledger(allow_private_networks=True)
    ledger.projects.create_project("acme")
    settings = load_settings(database_url="memory://")
    delivery = build_subscription_delivery(settings, ledger, receiver, clock=clock)
    subscribe(delivery, receiver, url="http://10.1.2.3/hooks")
    send(ledger, 1)
    ledger.projects.provider_addresses.allow_private_networks = False
    assert delivery.run_round().failures == 1
    assert receiver.requests == []
    view = delivery.subscriptions.get("acme", "crm")
    assert view.last_error.startswith("not sent: url 'http://10.1.2.3/hooks' is not https")
    assert (view.position, view.lag) == (0, 1)
