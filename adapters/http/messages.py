"""Sending and reading: messages, the campaign-event feed, campaign audits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request

from smsledger.adapters.http.auth import caller
from smsledger.adapters.http.context import ServiceContext, context_of
from smsledger.adapters.http.errors import ApiError, invalid_fields
from smsledger.adapters.http.metrics import label_value
from smsledger.adapters.http.schemas import (
    CURSOR_PATTERN,
    ERRORS,
    CampaignAuditOut,
    EventsOut,
    MessageBatchIn,
    MessageIn,
    MessageOut,
    SendBatchOut,
    SendOut,
)
from smsledger.application.commands import SendRequest
from smsledger.application.errors import MessageIdReused
from smsledger.application.projects import Principal
from smsledger.application.views import SendResult

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["Messages"], responses=ERRORS)


def _request(message: MessageIn) -> SendRequest:
    return SendRequest(
        customer_id=message.customer_id, to=message.to, text=message.text, title=message.title,
        media_urls=tuple(message.media_urls), campaign_id=message.campaign_id,
        action_id=message.action_id, sender=message.sender, integration_id=message.integration,
        message_id=message.message_id, consent_category=message.consent_category)


def _send(request: Request, project_id: str, messages: list[MessageIn], *,
          report_invalid: bool = False) -> list[SendOut]:
    context: ServiceContext = context_of(request)
    try:
        results: list[SendResult] = context.channel.send(
            project_id, [_request(m) for m in messages], report_invalid=report_invalid)
    except MessageIdReused as exc:  # raised when the call holds one message
        context.metrics.refusals.labels(label_value(exc.code)).inc()
        where = "body.messages.0.message_id" if report_invalid else "body.message_id"
        raise ApiError(409, exc.code, str(exc), invalid_fields((where, str(exc)))) from None
    context.metrics.record_sends(results)
    return [SendOut(**vars(r)) for r in results]


@router.post("/messages", status_code=202, response_model=SendOut, summary="Send one message")
def send_message(project_id: str, body: MessageIn, request: Request,
                 idempotency_key: str | None = Header(
                     default=None, min_length=1, max_length=200, description=(
                         "the message's id, as `message_id` in the body: the same key with "
                         "the same request is answered again and not sent twice; with "
                         "another request it is 409 message_id_reused")),
                 _: Principal = Depends(caller)) -> SendOut:
    """409 with the code `consent_missing` or `number_invalid` when the send policy
    refuses it: it is then neither stored nor sent; 409 `message_id_reused` when its
    id (or Idempotency-Key) was used for another request."""
    if idempotency_key is not None:
        if body.message_id not in (None, idempotency_key):
            raise ApiError(422, "invalid_request", "Idempotency-Key and message_id differ",
                           invalid_fields(("header.idempotency-key", "must equal the body's "
                                           "message_id when both are given")))
        body = body.model_copy(update={"message_id": idempotency_key})
    (result,) = _send(request, project_id, [body])
    if result.status == "refused":
        code = result.detail or "refused"
        where, why = _REFUSALS.get(code, ("body", "the send policy refused it"))
        raise ApiError(409, code, why, invalid_fields((where, why)))
    return result


# The send policy's refusals (application.policy): the field each is about, and why.
_REFUSALS = {
    "consent_missing": ("body.consent_category",
                        "the number has no granted consent for this category"),
    "number_invalid": ("body.to",
                       "a permanent error marked this number invalid; revalidate it first"),
}


@router.post("/messages/batch", status_code=202, response_model=SendBatchOut,
             summary="Send many messages, in batches to Infobip; refused ones say why")
def send_messages(project_id: str, body: MessageBatchIn, request: Request,
                  _: Principal = Depends(caller)) -> SendBatchOut:
    """One result per message, in order: an invalid message gets the status `invalid`
    and its `error` and is neither stored nor sent, and the others are sent. 422 only
    when the body itself is malformed."""
    return SendBatchOut(messages=_send(request, project_id, body.messages, report_invalid=True))


@router.get("/messages/{message_id}", response_model=MessageOut,
            summary="A message's status and full history")
def get_message(project_id: str, message_id: str, request: Request,
                _: Principal = Depends(caller)) -> MessageOut:
    return MessageOut(**context_of(request).channel.message(project_id, message_id).to_dict())


# exclude_unset: a reply's `keyword` and `nps_score` are left out when it has none.
@router.get("/events", response_model=EventsOut, response_model_exclude_unset=True,
            summary="The campaign-event feed")
def list_events(project_id: str, request: Request, after: str = Query(
                    "0", pattern=CURSOR_PATTERN, max_length=19,
                    description="the `next` cursor of the previous page; 0 for the start"),
                limit: int = Query(100, ge=1, le=1000),
                _: Principal = Depends(caller)) -> EventsOut:
    page = context_of(request).channel.campaign_events(project_id, after=int(after),
                                                            limit=limit)
    return EventsOut(**page.to_dict())


@router.get("/campaigns/{campaign_id}/audit", response_model=CampaignAuditOut,
            summary="The campaign's audit, replayed")
def get_campaign_audit(project_id: str, campaign_id: str, request: Request,
                       _: Principal = Depends(caller)) -> CampaignAuditOut:
    audit = context_of(request).channel.audit(project_id, campaign_id)
    return CampaignAuditOut(**audit.to_dict())
