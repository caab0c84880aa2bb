"""The HTTP answer models (adapters/http/schemas.py) keep the JSON the application
writes: every kind of campaign event, read through CampaignEventOut as the feed answers
it (exclude_unset), comes out exactly as CampaignEvent.to_dict() made it, and so do a
message with its history and a campaign's audit; the enums name
every word the application answers with; and the one error shape refuses a detail it
does not declare."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import get_args

import pytest
from pydantic import ValidationError

from smsledger.adapters.http.errors import error_body
from smsledger.adapters.http.projects import TokenOut
from smsledger.adapters.http.schemas import (
    CampaignAuditOut,
    CampaignEventOut,
    ConsentEventProperties,
    MessageEventProperties,
    MessageOut,
    ReplyEventProperties,
    SendError,
    SendStatus,
)
from smsledger.application.audit import CampaignAudit
from smsledger.application.errors import InvalidSendRequest, MessageIdReused
from smsledger.application.funnel import FUNNEL_KEYS
from smsledger.application.policy import REFUSED
from smsledger.application.sending import INVALID
from smsledger.application.views import HistoryEntry, MessageView
from smsledger.domain.campaign_events import (
    CONSENT_STATUSES,
    CampaignEvent,
    campaign_event_for,
    consent_event,
    reply_event,
)
from smsledger.domain.consent import Consent, ConsentSource
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.project import ROLES
from smsledger.domain.status import MessageStatus
from support.statuses import outcome
from unit.test_message import T0, new_message


def as_answered(event: CampaignEvent) -> dict:
    """The event as the feed answers it: through the model, unset properties left out."""
    model = CampaignEventOut(**json.loads(json.dumps(event.to_dict())))
    return model.model_dump(mode="json", exclude_unset=True)


def message_events() -> list[CampaignEvent]:
    events = []
    for final in ("DELIVERED_TO_HANDSET", "REJECTED_NETWORK", "UNDELIVERABLE_NOT_DELIVERED"):
        message = new_message()
        message.accept(at=T0, parts=2)
        message.record_report(outcome(final, done_at=T0 + timedelta(seconds=5)), received_at=T0)
        events += [campaign_event_for(e, message.identity) for e in message.collect_events()]
    refused = new_message()
    refused.refuse(at=T0, status_code=400, error="BAD_REQUEST", comment="Invalid destination")
    events += [campaign_event_for(e, refused.identity) for e in refused.collect_events()]
    return [e for e in events if e is not None]


def reply_events() -> list[CampaignEvent]:
    plain = dict(project_id="acme", integration_id="infobip", sender="+385921234567",
                 to="385991234567", parts=1, received_at=T0)
    replies = [
        InboundMessage.receive(provider_message_id="in-1", text="thanks", **plain),
        InboundMessage.receive(provider_message_id="in-2", text="STOP", keyword="STOP",
                               message_id="m-1", customer_id="c-1", campaign_id="spring",
                               **plain),
        InboundMessage.receive(provider_message_id="in-3", text="9 great", nps_score=9, **plain),
    ]
    return [reply_event(e) for reply in replies for e in reply.collect_events()]


def consent_events() -> list[CampaignEvent]:
    events = []
    for ending in ("grant", "revoke", "expire"):
        consent = Consent.open("acme", "+385921234567", "sms_marketing", at=T0)
        consent.request(message_id="m-1", at=T0, valid_for=timedelta(hours=24),
                        customer_id="c-1")
        if ending == "grant":
            consent.grant(ConsentSource.KEYWORD, at=T0, customer_id="c-1")
        elif ending == "revoke":
            consent.revoke(ConsentSource.API, at=T0)
        else:
            assert consent.expire_if_due(T0 + timedelta(days=2))
        events += [consent_event(e, "acme", "+385921234567", "sms_marketing", "c-1")
                   for e in consent.collect_events()]
    return [e for e in events if e is not None]


def test_every_kind_of_campaign_event_is_answered_as_the_application_wrote_it():
    kinds = {MessageEventProperties: message_events(), ReplyEventProperties: reply_events(),
             ConsentEventProperties: consent_events()}
    statuses = set()
    for model, events in kinds.items():
        assert events
        for event in events:
            expected = json.loads(json.dumps(event.to_dict()))
            # Compared as text: the same properties, values and order.
            assert json.dumps(as_answered(event)) == json.dumps(expected)
            answered = CampaignEventOut(**expected)
            assert type(answered.properties) is model, (event.status, model)
            statuses.add(event.status)
    # Every status a campaign event can have was read through the model above.
    assert statuses == ({s.value for s in MessageStatus} - {"requested"}
                        | {"incoming_message"} | set(CONSENT_STATUSES.values()))


def test_a_reply_without_keyword_or_score_has_neither_property():
    plain, with_keyword, with_score = (as_answered(e)["properties"] for e in reply_events())
    assert "keyword" not in plain and "nps_score" not in plain
    assert with_keyword["keyword"] == "STOP" and "nps_score" not in with_keyword
    assert with_score["nps_score"] == 9


def test_an_unknown_campaign_event_status_is_refused_not_passed_on_untyped():
    (event,) = [e for e in message_events() if e.status == "delivered"][:1]
    wrong = {**event.to_dict(), "properties": {**event.properties, "status": "teleported"}}
    with pytest.raises(ValidationError):
        CampaignEventOut(**json.loads(json.dumps(wrong)))


def test_a_message_and_an_audit_are_answered_as_the_application_wrote_them():
    view = MessageView(
        project_id="acme", message_id="m-1", status="delivered", recipient="+385921234567",
        country="HR", customer_id="c-1", campaign_id="spring", action_id=None, sender="Acme",
        integration_id="infobip", number_of_message_parts=1, encoding="GSM-7",
        window_closes_at=T0 + timedelta(days=4), window_closed=None, late=False,
        history=[HistoryEntry("Requested", T0, {"to": "+385921234567", "parts": 1}),
                 HistoryEntry("Delivered", T0, {"outcome": {"group": "DELIVERED"}})])
    audit = CampaignAudit(project_id="acme", campaign_id="spring",
                          counts={key: n for n, key in enumerate(FUNNEL_KEYS)}, parts=3,
                          cost={"EUR": "0.0160"}, as_of=T0, drift=["parts: replay 3, statistics 2"],
                          nps={"responses": 2, "promoters": 1, "passives": 0,
                               "detractors": 1, "score": 0.0})
    for model, value in ((MessageOut, view), (CampaignAuditOut, audit)):
        expected = json.dumps(value.to_dict())
        assert json.dumps(model(**json.loads(expected)).model_dump(mode="json")) == expected


def test_the_enums_hold_every_word_the_application_answers_with():
    assert {s.value for s in SendStatus} == ({s.value for s in MessageStatus}
                                             | {REFUSED, INVALID})
    assert {e.value for e in SendError} == {InvalidSendRequest.code, MessageIdReused.code}
    assert get_args(TokenOut.model_fields["role"].annotation) == ROLES


def test_the_error_shape_declares_every_detail():
    body = error_body("invalid_request", "bad", {"fields": [{"field": "body.to",
                                                              "problem": "not a number"}]})
    assert body == {"error": {"code": "invalid_request", "message": "bad", "details": {
        "fields": [{"field": "body.to", "problem": "not a number"}]}}}
    assert error_body("not_found", "no such resource")["error"]["details"] == {}
    with pytest.raises(ValidationError, match="undeclared"):
        error_body("conflict", "no", {"undeclared": 1})
