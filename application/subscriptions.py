"""Event subscriptions (push): configuring them, and where each one's delivery stands.

A subscription's configuration (URL, statuses filter, enabled or why not, the
generation of its secret) is part of the project's settings: events on the
ProjectSettings aggregate, changed as every setting is (ProjectDirectory's retrying
change), with who changed it. Its delivery state (smsledger.domain.subscriptions.
DeliveryState: position, failures, next attempt, last error and success) lives in
the SubscriptionStates port, beside the event store, and is written by the delivery
(subscription_delivery.py) only after the receiver answered.

A new subscription starts at position 0: it receives the project's whole feed, then
everything after, and never misses an event that was in the feed before it existed
(a platform that wants only new events replays from the feed's head). Deleted and
created again, it starts at 0 again.

Signing secrets are derived from the service's secret key (the WebhookSecrets port,
as the integrations' webhook secrets are) from the project, the subscription's name
and the secret's generation, so the store holds none; each new secret of a project
takes the next generation, so no secret is ever derived twice. Shown in full once,
in the answer that made it (creation, rotation), masked everywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smsledger.application.errors import ConcurrencyConflict
from smsledger.application.ports import Clock, SubscriptionStates
from smsledger.application.projects import ProjectDirectory
from smsledger.application.queries import Queries
from smsledger.domain.errors import InvalidInput
from smsledger.domain.project import ProjectSettings
from smsledger.domain.subscriptions import (
    DeliveryState,
    InvalidSubscription,
    Subscription,
    masked_secret,
    secret_text,
    validate_subscription,
)

log = logging.getLogger("smsledger.subscriptions")

LAG_CAP = 1000  # feed events counted behind a subscription's position, at most
MAX_STATE_WRITES = 10  # attempts at a state write that other writers keep overtaking
MAX_PREVIOUS_SECRET_VALIDITY = timedelta(days=7)
DELIVERY = "delivery"  # `changed_by` of what the delivery itself changes (disabling)


@dataclass(frozen=True)
class SubscriptionView:
    name: str
    url: str
    statuses: list[str]
    enabled: bool
    disabled_reason: str | None
    secret: str  # `whsec_...` in full only where just made (created, rotated); else masked
    position: int  # the feed's cursor the receiver has acknowledged up to
    lag: int  # feed events after the position, counted up to LAG_CAP
    lag_capped: bool  # there are more than LAG_CAP
    delivered: int
    failures: int  # attempts failed in a row
    failing_since: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    next_attempt_at: datetime | None


class Subscriptions:
    def __init__(self, projects: ProjectDirectory, queries: Queries,
                 states: SubscriptionStates, clock: Clock) -> None:
        self.projects = projects
        self.queries = queries
        self.states = states
        self.clock = clock

    # --- configuration --------------------------------------------------------------

    def put(self, project_id: str, name: str, *, url: str, statuses: list[str],
            enabled: bool = True, changed_by: str) -> SubscriptionView:
        """Create or change a subscription; the answer to a creation holds its secret.
        A change (and a PUT repeated as it is) makes it due at once, with its retry
        budget afresh: that is how a disabled subscription is enabled again."""
        validate_subscription(url, statuses)
        self._check_address(url)
        created: list[bool] = []

        def configure(settings: ProjectSettings) -> None:
            created[:] = [settings.configure_subscription(
                name, url=url, statuses=statuses, enabled=enabled, changed_by=changed_by,
                at=self.clock.now())]
            if created[0]:
                # Before the event is saved: a subscription is never without its state.
                # (A crash in between leaves a state of no subscription, which the
                # delivery passes over and the next creation of that name replaces.)
                self.states.put(project_id, name, self._fresh().to_doc())

        # ProjectDirectory's one retrying change, as every project setting is changed.
        settings = self.projects._change(project_id, configure)
        if not created[0]:
            self._update(project_id, name, DeliveryState.restarted)
        return self._view(project_id, settings.subscription(name), reveal=created[0])

    def rotate_secret(self, project_id: str, name: str, *,
                      previous_valid_for: timedelta = timedelta(0),
                      changed_by: str) -> SubscriptionView:
        """A new secret (in the answer); the previous one goes on signing beside it for
        `previous_valid_for`, so receivers can switch without refusing a request."""
        if not timedelta(0) <= previous_valid_for <= MAX_PREVIOUS_SECRET_VALIDITY:
            raise InvalidInput(f"the previous secret may stay valid for 0 to "
                               f"{MAX_PREVIOUS_SECRET_VALIDITY}, not {previous_valid_for}")
        until = self.clock.now() + previous_valid_for if previous_valid_for else None
        settings = self.projects._change(project_id, lambda s: s.rotate_subscription_secret(
            name, previous_valid_until=until, changed_by=changed_by, at=self.clock.now()))
        return self._view(project_id, settings.subscription(name), reveal=True)

    def delete(self, project_id: str, name: str, *, changed_by: str) -> None:
        self.projects._change(project_id, lambda s: s.delete_subscription(
            name, changed_by=changed_by, at=self.clock.now()))
        self.states.delete(project_id, name)

    def disable(self, project_id: str, name: str, reason: str) -> None:
        """The delivery gives up on the subscription, saying why (GET shows it)."""
        self.projects._change(project_id, lambda s: s.disable_subscription(
            name, reason=reason, changed_by=DELIVERY, at=self.clock.now()))

    def replay(self, project_id: str, name: str, after: int) -> SubscriptionView:
        """Deliver again from the feed's cursor `after` (0: everything), due at once and
        under new webhook ids; a cursor beyond the store's head is refused, as it would
        skip events not written yet."""
        subscription = self._settings(project_id).subscription(name)
        head: int = self.queries.projections.recorder.max_notification_id() or 0
        if not 0 <= after <= head:
            raise InvalidInput(f"after {after} is not a cursor of the feed: it must be "
                               f"0 to {head}, the head")
        epoch = self.projects.secrets.new_id()
        self._update(project_id, name, lambda state: state.replayed(after, epoch))
        log.info("subscription replayed", extra={"fields": {
            "project_id": project_id, "subscription": name, "after": after}})
        return self._view(project_id, subscription)

    # --- reading --------------------------------------------------------------------

    def list(self, project_id: str) -> list[SubscriptionView]:
        settings = self._settings(project_id)
        return [self._view(project_id, settings.subscriptions[name])
                for name in sorted(settings.subscriptions)]

    def get(self, project_id: str, name: str) -> SubscriptionView:
        return self._view(project_id, self._settings(project_id).subscription(name))

    def configured(self, project_id: str, name: str) -> Subscription | None:
        """The subscription as configured now; None when it is not (deleted, or the
        project gone)."""
        settings = self.projects.find(project_id)
        return settings.subscriptions.get(name) if settings is not None else None

    def signing_key(self, project_id: str, name: str, generation: int) -> bytes:
        """The HMAC key of the subscription's secret of `generation`. Derived under an
        id no integration can have (the unit separator is not allowed in ids), so no
        subscription secret is ever an integration's webhook secret."""
        derived = self.projects.webhook_secrets.derive(
            project_id, f"subscription\x1f{name}", str(generation))
        return derived.encode()

    def check_address(self, url: str) -> str | None:
        """Why `url` may not be called now (the rule of the Infobip base URLs)."""
        return self.projects.provider_addresses.refusal(url, field="url")

    # --- helpers --------------------------------------------------------------------

    def _check_address(self, url: str) -> None:
        refusal = self.check_address(url)
        if refusal is not None:
            raise InvalidSubscription(refusal)

    def _settings(self, project_id: str) -> ProjectSettings:
        return self.projects.settings(project_id)

    def _fresh(self) -> DeliveryState:
        return DeliveryState(epoch=self.projects.secrets.new_id())

    def _update(self, project_id: str, name: str,
                change: Callable[[DeliveryState], DeliveryState]) -> DeliveryState:
        """Read the state, change it and write it over the version read; again when
        another writer (the delivery) got there first."""
        for _ in range(MAX_STATE_WRITES):
            found = self.states.get(project_id, name)
            version, state = (found[0], DeliveryState.from_doc(found[1])) if found \
                else (0, self._fresh())
            changed = change(state)
            if self.states.put(project_id, name, changed.to_doc(), version=version):
                return changed
        raise ConcurrencyConflict(f"the delivery state of subscription {name!r} kept "
                                  "changing; try again")

    def _view(self, project_id: str, subscription: Subscription, *,
              reveal: bool = False) -> SubscriptionView:
        found = self.states.get(project_id, subscription.name)
        state = DeliveryState.from_doc(found[1]) if found else DeliveryState()
        behind = len(self.queries.campaign_events(project_id, after=state.position,
                                                  limit=LAG_CAP + 1).events)
        key = self.signing_key(project_id, subscription.name, subscription.secret_generation)
        return SubscriptionView(
            name=subscription.name, url=subscription.url, statuses=list(subscription.statuses),
            enabled=subscription.enabled, disabled_reason=subscription.disabled_reason,
            secret=secret_text(key) if reveal else masked_secret(key),
            position=state.position, lag=min(behind, LAG_CAP), lag_capped=behind > LAG_CAP,
            delivered=state.delivered, failures=state.failures,
            failing_since=state.failing_since, last_error=state.last_error,
            last_error_at=state.last_error_at, last_success_at=state.last_success_at,
            next_attempt_at=state.next_attempt_at)
