"""The delivery of event subscriptions: one round at a time, in the background.

Each round takes every enabled subscription whose next attempt is due and, for each,
reads up to MAX_BATCH feed events after its position, keeps those its statuses filter
wants, posts them signed (Standard Webhooks) as `{"events": [...], "next": "<cursor>"}`
and, once the receiver answered 2xx, moves the position past the whole page, filtered
events included. Then the next page, until the subscription is caught up or has had
`batches_per_round` pages (the others get their turn). A failure (no answer in time,
a status other than 2xx, a redirect, an address the rule refuses) is recorded with
its reason and the batch's end (its retries carry the same events under the same
webhook-id, whatever came since), and the next attempt is put off by the capped
exponential backoff (RetrySchedule); once failures have gone on for the retry budget,
the subscription is disabled with the reason, and its position stays where the
receiver left it: enabled again, or replayed, it goes on from there.

The position is written only after the receiver's answer, and only over the state
that was read (SubscriptionStates' versions): a crash between the answer and the
write sends the batch again (at least once, never skipping), and a replay or a
re-creation made meanwhile is not overwritten by the older delivery.

Subscriptions are delivered side by side, on a few threads, and a round ends when each
has had its turn: a slow receiver delays the others' next round by at most the poster's
timeout (per step of a request), and once failing it is left alone until its backoff is
up. One process delivers at a time: the `subscriptions` job (application/jobs.py),
held by SmsChannel.keep_subscriptions_delivering.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from smsledger.application.ports import Clock, SubscriptionPoster
from smsledger.application.subscriptions import Subscriptions
from smsledger.domain.campaign_events import CampaignEvent
from smsledger.domain.subscriptions import (
    MAX_BATCH,
    DeliveryState,
    RetrySchedule,
    Subscription,
    delivery_id,
    signed_headers,
)

log = logging.getLogger("smsledger.subscriptions")


@dataclass(frozen=True)
class DeliveryRound:
    """What one round did."""

    subscriptions: int = 0  # due, and attempted
    requests: int = 0  # batches posted and acknowledged
    events: int = 0  # events in them
    failures: int = 0  # attempts that failed
    disabled: int = 0  # subscriptions given up on

    def __add__(self, other: DeliveryRound) -> DeliveryRound:
        return DeliveryRound(*(a + b for a, b in zip(vars(self).values(), vars(other).values(),
                                                    strict=True)))


@dataclass(frozen=True)
class _Due:
    project_id: str
    subscription: Subscription
    version: int
    state: DeliveryState


class SubscriptionDelivery:
    def __init__(self, subscriptions: Subscriptions, poster: SubscriptionPoster, clock: Clock,
                 schedule: RetrySchedule = RetrySchedule(), *, threads: int = 4,
                 batches_per_round: int = 10) -> None:
        if threads < 1 or batches_per_round < 1:
            raise ValueError("threads and batches_per_round must be at least 1")
        self.subscriptions = subscriptions
        self.poster = poster
        self.clock = clock
        self.schedule = schedule
        self.threads = threads
        self.batches_per_round = batches_per_round

    def run_round(self) -> DeliveryRound:
        due = self._due()
        if len(due) <= 1:
            return sum((self._deliver_logged(d) for d in due), DeliveryRound())
        with ThreadPoolExecutor(max_workers=min(self.threads, len(due)),
                                thread_name_prefix="smsledger-push") as pool:
            return sum(pool.map(self._deliver_logged, due), DeliveryRound())

    def _due(self) -> list[_Due]:
        now = self.clock.now()
        due = []
        for project_id, name, version, doc in self.subscriptions.states.all():
            subscription = self.subscriptions.configured(project_id, name)
            if subscription is None or not subscription.enabled:
                continue  # disabled, or a state left by a deletion
            state = DeliveryState.from_doc(doc)
            if state.due(now):
                due.append(_Due(project_id, subscription, version, state))
        return due

    def _deliver_logged(self, due: _Due) -> DeliveryRound:
        """One subscription's turn; what goes wrong beyond the receiver (the store) is
        logged and leaves the others' turns be."""
        try:
            return self._deliver(due)
        except Exception:
            log.exception("delivering subscription %s of project %s failed",
                          due.subscription.name, due.project_id, extra={"fields": {
                              "project_id": due.project_id,
                              "subscription": due.subscription.name}})
            return DeliveryRound(subscriptions=1)

    def _deliver(self, due: _Due) -> DeliveryRound:
        project_id, subscription = due.project_id, due.subscription
        version, state = due.version, due.state
        done = DeliveryRound(subscriptions=1)
        for _ in range(self.batches_per_round):
            page = self.subscriptions.queries.campaign_events(
                project_id, after=state.position, limit=MAX_BATCH)
            if not page.events:
                break
            upto = state.batch_end(page.next)
            wanted = [e for e in page.events if e.position <= upto and subscription.wants(e.status)]
            error = self._post(project_id, subscription, state, wanted, upto) if wanted else None
            now = self.clock.now()
            changed = (state.advanced(upto, len(wanted), now, posted=bool(wanted))
                       if error is None else state.failed(error, now, self.schedule, upto))
            if not self.subscriptions.states.put(project_id, subscription.name,
                                                 changed.to_doc(), version=version):
                break  # replayed, re-created or restarted meanwhile: that state stands
            version, state = version + 1, changed
            if error is not None:
                return done + self._failed(project_id, subscription, state)
            if wanted:
                done += DeliveryRound(requests=1, events=len(wanted))
            if upto == page.next and len(page.events) < MAX_BATCH:
                break  # caught up (else: a retried batch went through, or a full page)
        return done

    def _post(self, project_id: str, subscription: Subscription, state: DeliveryState,
              events: list[CampaignEvent], upto: int) -> str | None:
        """Post the events signed; None when acknowledged, else why not. The address is
        checked again first: the rule (or what the name resolves to) may have changed
        since the subscription was saved."""
        refusal = self.subscriptions.check_address(subscription.url)
        if refusal is not None:
            return f"not sent: {refusal}"
        body = json.dumps({"events": [e.to_dict() for e in events], "next": str(upto)},
                          separators=(",", ":")).encode()
        now = self.clock.now()
        keys = [self.subscriptions.signing_key(project_id, subscription.name, generation)
                for generation in subscription.signing_generations(now)]
        message_id = delivery_id(project_id, subscription.name, state.epoch, state.position,
                                 upto)
        headers = {"content-type": "application/json",
                   **signed_headers(keys, message_id, int(now.timestamp()), body)}
        return self.poster.post(subscription.url, body, headers)

    def _failed(self, project_id: str, subscription: Subscription, state: DeliveryState
                ) -> DeliveryRound:
        fields = {"project_id": project_id, "subscription": subscription.name,
                  "failures": state.failures, "error": state.last_error,
                  "next_attempt_at": str(state.next_attempt_at)}
        log.warning("subscription delivery failed", extra={"fields": fields})
        assert state.failing_since is not None and state.last_error_at is not None
        if not self.schedule.exhausted(state.failing_since, state.last_error_at):
            return DeliveryRound(failures=1)
        reason = (f"deliveries failed for {state.last_error_at - state.failing_since} "
                  f"(since {state.failing_since.isoformat()}, {state.failures} attempts), "
                  f"longer than the retry budget of {self.schedule.budget}; last error: "
                  f"{state.last_error}")
        self.subscriptions.disable(project_id, subscription.name, reason)
        log.warning("subscription disabled", extra={"fields": {**fields, "reason": reason}})
        return DeliveryRound(failures=1, disabled=1)
