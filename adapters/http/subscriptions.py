"""Event subscriptions over HTTP: the project's campaign events pushed to the platform's
URL, signed as Standard Webhooks says (application/subscriptions.py for the rules).

Every route needs an admin token: a subscription's URL and its delivery state are
the project's configuration, and a URL may carry the receiver's own credentials in
its query. Changes are recorded with the token's id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, Field, field_validator

from smsledger.adapters.http.auth import admin
from smsledger.adapters.http.context import context_of
from smsledger.adapters.http.schemas import CURSOR_PATTERN, ERRORS, PLAIN_ID, Strict, Timestamp
from smsledger.application.projects import Principal
from smsledger.application.subscriptions import MAX_PREVIOUS_SECRET_VALIDITY, SubscriptionView
from smsledger.domain.subscriptions import FEED_STATUSES, MAX_URL_LENGTH

router = APIRouter(prefix="/v1/projects/{project_id}/subscriptions",
                   tags=["Event subscriptions"], responses=ERRORS)

# Stated in the document; the domain checks it (validate_id) and says what is wrong.
Name = Annotated[str, Path(description="the subscription's name, e.g. crm", **PLAIN_ID)]


class SubscriptionIn(Strict):
    url: str = Field(
        description="where the events are POSTed: https on a public address (plain http and "
                    "private addresses only where the operator allows private networks); no "
                    "user, password or fragment",
        examples=["https://crm.example.com/hooks/sms"],
        json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                           "maxLength": MAX_URL_LENGTH})
    statuses: list[str] = Field(
        default_factory=list, max_length=len(FEED_STATUSES),
        description="only events with these statuses are posted (empty: all); the position "
                    "moves past the others all the same",
        json_schema_extra={"uniqueItems": True,
                           "items": {"type": "string", "enum": sorted(FEED_STATUSES)}})
    enabled: bool = Field(default=True, description="true also enables again a subscription "
                                                    "the delivery disabled")


class SubscriptionOut(BaseModel):
    name: str
    url: str
    statuses: list[str] = Field(description="the filter; empty: every status")
    enabled: bool
    disabled_reason: str | None = Field(
        description="why the delivery gave up (its retry budget spent); cleared by enabling "
                    "it again")
    secret: str = Field(
        description="the signing secret, `whsec_` and base64: in full only in the answer that "
                    "created (PUT) or rotated it, masked everywhere else",
        examples=["whsec_****Zx9q"])
    position: str = Field(description="the feed cursor the receiver acknowledged up to (as "
                                      "the feed's `next`)", pattern=CURSOR_PATTERN)
    lag: int = Field(ge=0, description="feed events after the position, counted up to 1000")
    lag_capped: bool = Field(description="more than `lag` events are behind")
    delivered: int = Field(ge=0, description="events the receiver acknowledged")
    failures: int = Field(ge=0, description="attempts failed in a row")
    failing_since: Timestamp | None
    last_error: str | None
    last_error_at: Timestamp | None
    last_success_at: Timestamp | None
    next_attempt_at: Timestamp | None = Field(description="null: due now")


class SubscriptionsOut(BaseModel):
    subscriptions: list[SubscriptionOut]


class RotateSecretIn(Strict):
    previous_secret_valid_for_seconds: int = Field(
        default=0, ge=0, le=int(MAX_PREVIOUS_SECRET_VALIDITY.total_seconds()),
        description="the old secret goes on signing beside the new one this long (each "
                    "request then carries both signatures), for receivers to switch over")


class ReplayIn(Strict):
    after: str = Field(pattern=CURSOR_PATTERN, max_length=19, examples=["0"],
                       description="the feed cursor to deliver from: events after it are "
                                   "posted again (0: everything)")

    @field_validator("after", mode="before")
    @classmethod
    def _cursor_as_text(cls, value: Any) -> Any:
        # A cursor is text, as the feed's `next`; a number is taken as well.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SubscriptionDeletedOut(BaseModel):
    name: str
    deleted: Literal[True] = True


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _out(view: SubscriptionView) -> SubscriptionOut:
    return SubscriptionOut(
        name=view.name, url=view.url, statuses=view.statuses, enabled=view.enabled,
        disabled_reason=view.disabled_reason, secret=view.secret, position=str(view.position),
        lag=view.lag, lag_capped=view.lag_capped, delivered=view.delivered,
        failures=view.failures, failing_since=_time(view.failing_since),
        last_error=view.last_error, last_error_at=_time(view.last_error_at),
        last_success_at=_time(view.last_success_at),
        next_attempt_at=_time(view.next_attempt_at))


@router.put("/{name}", response_model=SubscriptionOut, operation_id="put_subscription",
            summary="Create or change an event subscription (admin)")
def put_subscription(project_id: str, name: Name, body: SubscriptionIn, request: Request,
                     who: Principal = Depends(admin)) -> SubscriptionOut:
    """The project's campaign events are POSTed to `url` in batches of at most 100
    (`{"events": [...], "next": "<cursor>"}`), in feed order, signed as Standard Webhooks
    says. The answer to the creation holds the signing secret, shown this once. A change
    (or this request repeated) makes the subscription due at once with its retry budget
    afresh: `enabled: true` enables again one the delivery disabled."""
    return _out(context_of(request).channel.put_subscription(
        project_id, name, url=body.url, statuses=body.statuses, enabled=body.enabled,
        changed_by=who.token_id))


@router.get("", response_model=SubscriptionsOut, operation_id="list_subscriptions",
            summary="The project's event subscriptions, secrets masked (admin)")
def list_subscriptions(project_id: str, request: Request,
                       _: Principal = Depends(admin)) -> SubscriptionsOut:
    views = context_of(request).channel.subscriptions(project_id)
    return SubscriptionsOut(subscriptions=[_out(view) for view in views])


@router.get("/{name}", response_model=SubscriptionOut, operation_id="get_subscription",
            summary="A subscription and where its delivery stands: position, lag, last "
                    "error (admin)")
def get_subscription(project_id: str, name: Name, request: Request,
                     _: Principal = Depends(admin)) -> SubscriptionOut:
    return _out(context_of(request).channel.subscription(project_id, name))


@router.delete("/{name}", response_model=SubscriptionDeletedOut,
               operation_id="delete_subscription",
               summary="Delete a subscription: nothing more is posted to it (admin)")
def delete_subscription(project_id: str, name: Name, request: Request,
                        who: Principal = Depends(admin)) -> SubscriptionDeletedOut:
    context_of(request).channel.delete_subscription(project_id, name,
                                                    changed_by=who.token_id)
    return SubscriptionDeletedOut(name=name)


@router.post("/{name}/rotate-secret", response_model=SubscriptionOut,
             operation_id="rotate_subscription_secret",
             summary="A new signing secret, in the answer (admin)")
def rotate_subscription_secret(
        project_id: str, name: Name, request: Request,
        body: RotateSecretIn = Body(default_factory=RotateSecretIn),
        who: Principal = Depends(admin)) -> SubscriptionOut:
    """The body may be left out: the old secret then stops signing at once."""
    return _out(context_of(request).channel.rotate_subscription_secret(
        project_id, name,
        previous_valid_for=timedelta(seconds=body.previous_secret_valid_for_seconds),
        changed_by=who.token_id))


@router.post("/{name}/replay", response_model=SubscriptionOut,
             operation_id="replay_subscription",
             summary="Deliver the feed again from a cursor (admin)")
def replay_subscription(project_id: str, name: Name, body: ReplayIn, request: Request,
                        _: Principal = Depends(admin)) -> SubscriptionOut:
    """Events after `after` are posted again, in order, under new webhook ids (the
    receiver drops what it has by `event_id`); a cursor beyond the feed's head is
    refused (422): it would skip events not written yet."""
    return _out(context_of(request).channel.replay_subscription(project_id, name,
                                                                int(body.after)))
