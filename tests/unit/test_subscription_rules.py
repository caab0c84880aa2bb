"""The pure rules of event subscriptions (smsledger.domain.subscriptions): signatures
that the `standardwebhooks` package verifies, the secret's form, the retry schedule
and its budget, the delivery state's steps, and what a subscription may be."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from smsledger.domain.subscriptions import (
    FEED_STATUSES,
    DeliveryState,
    InvalidSubscription,
    RetrySchedule,
    Subscription,
    delivery_id,
    masked_secret,
    secret_text,
    signed_headers,
    validate_subscription,
)
from support.times import T0

KEY = b"dk4vI7XW71cqJvqQjSUgtKHOCnU6T1Kn"  # as the service derives them: 32 characters
OTHER_KEY = b"Zq1w3Xr5t7Yu9Io0Pa2Sd4Fg6Hj8Kl1Z"
BODY = json.dumps({"events": [{"event_id": "e-1", "event": "campaign"}], "next": "7"}).encode()


def test_a_signed_request_verifies_with_the_standardwebhooks_package():
    now = int(time.time())  # the package refuses timestamps 5 minutes off the real time
    headers = signed_headers([KEY], "msg_1", now, BODY)
    assert Webhook(secret_text(KEY)).verify(BODY, headers) == json.loads(BODY)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "key"])
def test_a_signature_does_not_verify_anything_else(tamper):
    now = int(time.time())
    headers = signed_headers([KEY], "msg_1", now, BODY)
    body, secret = BODY, secret_text(KEY)
    if tamper == "body":
        body = BODY.replace(b"e-1", b"e-2")
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(now - 1)
    else:
        secret = secret_text(OTHER_KEY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_during_a_rotation_each_of_the_two_secrets_verifies():
    now = int(time.time())
    headers = signed_headers([KEY, OTHER_KEY], "msg_1", now, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for key in (KEY, OTHER_KEY):
        Webhook(secret_text(key)).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_text(b"x" * 32)).verify(BODY, headers)


def test_the_secret_is_whsec_and_base64_and_its_mask_gives_nothing_to_sign_with():
    secret = secret_text(KEY)
    assert secret.startswith("whsec_")
    assert Webhook(secret)._whsecret == KEY  # the receiver's library reads the same key
    masked = masked_secret(KEY)
    assert masked == "whsec_****" + secret.rstrip("=")[-4:]  # tells secrets apart, no more


def test_webhook_ids_are_stable_for_a_batch_and_new_after_a_replay():
    first = delivery_id("acme", "crm", "epoch-1", 0, 57)
    assert first == delivery_id("acme", "crm", "epoch-1", 0, 57)
    assert first.startswith("msg_")
    others = {delivery_id(*parts) for parts in [
        ("acme", "crm", "epoch-2", 0, 57), ("acme", "crm", "epoch-1", 0, 58),
        ("acme", "crm", "epoch-1", 1, 57), ("acme", "erp", "epoch-1", 0, 57),
        ("globex", "crm", "epoch-1", 0, 57)]}
    assert first not in others and len(others) == 5


# --- retrying --------------------------------------------------------------------------

def test_the_backoff_doubles_from_the_first_delay_up_to_its_cap():
    schedule = RetrySchedule(first_delay=timedelta(seconds=5), max_delay=timedelta(minutes=1))
    assert [schedule.delay(n).total_seconds() for n in range(1, 8)] == [5, 10, 20, 40, 60, 60, 60]
    assert schedule.delay(10_000) == timedelta(minutes=1)  # no overflow however long it fails


def test_the_budget_is_spent_once_failures_have_lasted_that_long():
    schedule = RetrySchedule(budget=timedelta(days=3))
    assert not schedule.exhausted(T0, T0 + timedelta(days=3) - timedelta(seconds=1))
    assert schedule.exhausted(T0, T0 + timedelta(days=3))


@pytest.mark.parametrize("first, cap, budget", [(0, 10, 10), (10, 5, 10), (1, 2, -1)])
def test_a_schedule_that_makes_no_sense_is_refused(first, cap, budget):
    with pytest.raises(InvalidSubscription):
        RetrySchedule(timedelta(seconds=first), timedelta(seconds=cap), timedelta(seconds=budget))


def test_the_delivery_state_moves_only_forward_and_keeps_its_failures_in_a_row():
    schedule = RetrySchedule(first_delay=timedelta(seconds=5), max_delay=timedelta(minutes=1))
    state = DeliveryState(epoch="e1")
    assert state.due(T0)
    failed = state.failed("HTTP 500", T0, schedule, 30).failed(
        "HTTP 502", T0 + timedelta(seconds=5), schedule, 30)
    assert (failed.failures, failed.failing_since, failed.last_error) == (2, T0, "HTTP 502")
    # The failed batch is retried as it was, however far the feed has grown since.
    assert (failed.batch_end(45), failed.batch_end(20), state.batch_end(45)) == (30, 20, 45)
    assert failed.next_attempt_at == T0 + timedelta(seconds=15)
    assert not failed.due(T0 + timedelta(seconds=14)) and failed.due(T0 + timedelta(seconds=15))
    done = failed.advanced(42, 3, T0 + timedelta(seconds=15), posted=True)
    assert (done.position, done.delivered, done.failures, done.failing_since) == (42, 3, 0, None)
    assert done.last_success_at == T0 + timedelta(seconds=15) and done.due(T0)
    assert done.last_error == "HTTP 502"  # kept for the record
    assert done.batch_end(45) == 45 and failed.restarted().batch_end(45) == 45
    skipped = done.advanced(50, 0, T0 + timedelta(seconds=20), posted=False)
    assert skipped.last_success_at == done.last_success_at  # nothing was posted
    replayed = failed.replayed(7, "e2")
    assert (replayed.position, replayed.epoch, replayed.failures, replayed.next_attempt_at) == (
        7, "e2", 0, None)
    assert DeliveryState.from_doc(json.loads(json.dumps(failed.to_doc()))) == failed


# --- what a subscription may be --------------------------------------------------------

def test_a_filter_names_statuses_of_the_feed():
    assert {"enqueued", "delivered", "failed", "incoming_message",
            "consent_granted"} <= FEED_STATUSES
    assert "requested" not in FEED_STATUSES  # never a campaign event
    assert validate_subscription("https://crm.example.com/h?k=1", ["delivered"]) == (
        "https://crm.example.com/h?k=1", ("delivered",))
    with pytest.raises(InvalidSubscription, match="'delivred'"):
        validate_subscription("https://crm.example.com/h", ["delivred"])
    with pytest.raises(InvalidSubscription, match="repeat"):
        validate_subscription("https://crm.example.com/h", ["failed", "failed"])


@pytest.mark.parametrize("url", ["ftp://crm.example.com/h", "crm.example.com/h", "https://",
                                 "https://user:pw@crm.example.com/h", "https://crm.example.com/h#x",
                                 "https://crm.example.com/a b", "https://x.com/" + "a" * 2000, 42])
def test_a_url_must_be_plain_absolute_http(url):
    with pytest.raises(InvalidSubscription, match="url"):
        validate_subscription(url, [])


def test_the_previous_secret_signs_only_until_its_time_is_up():
    subscription = Subscription("crm", "https://x.example/h", (), True, None, 3,
                                previous_generation=2, previous_valid_until=T0)
    assert subscription.signing_generations(T0 - timedelta(seconds=1)) == [3, 2]
    assert subscription.signing_generations(T0) == [3]
    assert subscription.wants("delivered")
    assert not Subscription("crm", "u", ("failed",), True, None, 1).wants("delivered")
