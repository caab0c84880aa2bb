"""Request and answer bodies of the client API, as pydantic models (they make the
OpenAPI document and the 422 answers that name the invalid field).

Every JSON answer has a model, so a client generated from /openapi.json reads typed
objects, never bare dictionaries. Answer models are built from what the application
returns (its `to_dict()` forms), so the JSON stays as it was: times are the ISO 8601
strings the application writes (`Timestamp`), and properties that the application
leaves out stay out (the feed is answered with `response_model_exclude_unset`).
Request constraints the domain enforces are stated in the document with
`json_schema_extra` where the domain's own check gives the clearer answer.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smsledger.application.errors import InvalidSendRequest, MessageIdReused
from smsledger.application.policy import REFUSED
from smsledger.application.sending import INVALID
from smsledger.domain.consent import CATEGORY_MAX_LENGTH, CATEGORY_PATTERN, ConsentSource
from smsledger.domain.content import MMS_TITLE_MAX
from smsledger.domain.parts import Encoding
from smsledger.domain.project import EVENT_NAME_PATTERN, ID_PATTERN, MAX_SENDERS
from smsledger.domain.status import MessageStatus, WindowOutcome

CURSOR_PATTERN = "^[0-9]+$"  # a feed position, as `next` gives it

# A time as the application writes it (datetime.isoformat(), with its UTC offset):
# declared a date-time, kept the string it is, so answers stay byte for byte as before.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# The JSON Schema of ids of projects and integrations (domain.project.validate_id),
# and the arguments that state it for a parameter: Path(**PLAIN_ID). Only stated: the
# domain checks the id and says what is wrong.
ID_SCHEMA: dict[str, Any] = {"pattern": ID_PATTERN, "minLength": 1, "maxLength": 63}
PLAIN_ID: dict[str, Any] = {"json_schema_extra": ID_SCHEMA}
# The JSON Schema of a sender name or number, as the domain takes it (validate_integration).
SENDER: dict[str, Any] = {"minLength": 1, "maxLength": 20}
# A phone number as PhoneNumber.parse takes it (see two_way.py, where the path parameters
# hold to it): international format, '+' optional, digits perhaps grouped by single
# spaces or dashes.
PHONE_PATTERN = r"^\+?[1-9](?:[ -]?[0-9]){5,18}$"
HTTP_URL: dict[str, Any] = {"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
# A consent category (domain.consent.validate_category).
CATEGORY: dict[str, Any] = {"pattern": f"^{CATEGORY_PATTERN}$", "minLength": 1,
                            "maxLength": CATEGORY_MAX_LENGTH}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationIn(Strict):
    base_url: str = Field(
        description="the Infobip account's base URL: http(s), no user or query",
        examples=["https://xyz.api.infobip.com"],
        json_schema_extra=HTTP_URL)
    api_key: str = Field(description="Infobip API key; stored, never returned or logged",
                         json_schema_extra={"minLength": 8})
    senders: list[Annotated[str, Field(json_schema_extra=SENDER)]] = Field(
        default_factory=list, max_length=MAX_SENDERS, json_schema_extra={"uniqueItems": True},
        description="sender names or numbers, 1-20 characters each, none repeated")
    default_sender: Annotated[str, Field(json_schema_extra=SENDER)] | None = Field(
        default=None, description="one of `senders`")
    rotate_webhook_secret: bool = Field(
        default=False, description="issue a new webhook secret (old webhook URLs stop working)")


class WebhooksOut(BaseModel):
    delivery_reports: str
    inbound: str
    username: str
    secret: str | None = Field(description="only in the answer to a PUT")


class IntegrationOut(BaseModel):
    integration_id: str
    base_url: str
    api_key: str = Field(description="masked: at most the last 4 characters")
    senders: list[str]
    default_sender: str | None
    webhooks: WebhooksOut


class IntegrationsOut(BaseModel):
    integrations: list[IntegrationOut]
    default_provider: str | None


class SmsChannelIn(Strict):
    default_provider: str = Field(description="the id of one of the project's integrations",
                                  json_schema_extra=ID_SCHEMA)


class SmsChannelOut(BaseModel):
    default_provider: str


class EventMappingIn(Strict):
    campaign: str = Field(
        description="the event name used instead of 'campaign': 1-128 letters, digits, "
                    "spaces or '_.:-', not starting or ending with a space or punctuation",
        json_schema_extra={"pattern": EVENT_NAME_PATTERN, "minLength": 1, "maxLength": 128})


class EventMappingOut(BaseModel):
    campaign: str


class MessageIn(Strict):
    """A message to send. The content's and routing's rules (number, text, title, media,
    sender, integration) are stated in the document and checked by the application for
    each message, not here: one message that breaks them is refused alone, 422 for a
    single send and the status `invalid` in a batch, whose other messages are sent."""

    customer_id: str = Field(min_length=1, max_length=200)
    to: str = Field(min_length=1, max_length=64, description=(
        "phone number in international format (E.164); a number that is not a valid "
        "number is refused: 422 for a single send, the status `invalid` in a batch"),
        examples=["+385921234567"], json_schema_extra={"pattern": PHONE_PATTERN})
    text: str = Field(default="", description="the SMS text, not blank; for an MMS, a text or "
                                              "at least one media URL")
    title: str | None = Field(default=None, description="set for an MMS: not blank, at most "
                                                        f"{MMS_TITLE_MAX} characters",
                              json_schema_extra={"minLength": 1, "maxLength": MMS_TITLE_MAX})
    media_urls: list[Annotated[str, Field(json_schema_extra=HTTP_URL)]] = Field(
        default_factory=list, description="for an MMS: absolute http(s) URLs")
    campaign_id: str | None = Field(default=None, max_length=200)
    action_id: str | None = Field(default=None, max_length=200)
    sender: Annotated[str, Field(json_schema_extra=SENDER)] | None = Field(
        default=None, description="one of the integration's senders; default: its default "
                                  "sender")
    integration: Annotated[str, Field(json_schema_extra=ID_SCHEMA)] | None = Field(
        default=None, description="the integration's id; default: the project's default "
                                  "provider")
    message_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="your own id: a repeated send is not sent twice")
    consent_category: Annotated[str, Field(json_schema_extra=CATEGORY)] | None = Field(
        default=None, description="marketing messages name the consent they need; without "
                                  "granted consent they are refused (409 consent_missing)")


class MessageBatchIn(Strict):
    messages: list[MessageIn] = Field(min_length=1, max_length=10_000)


class SendStatus(str, Enum):
    """What a send answers for a message: its status (MessageStatus), or `refused` (the
    send policy) or `invalid` (see `error`): then it is not stored."""

    REQUESTED = MessageStatus.REQUESTED.value
    ENQUEUED = MessageStatus.ENQUEUED.value
    ENQUEUE_FAILED = MessageStatus.ENQUEUE_FAILED.value
    DELIVERED = MessageStatus.DELIVERED.value
    REJECTED = MessageStatus.REJECTED.value
    FAILED = MessageStatus.FAILED.value
    REFUSED = REFUSED
    INVALID = INVALID


class SendError(str, Enum):
    """Why a message of a batch is `invalid`."""

    INVALID_MESSAGE = InvalidSendRequest.code
    MESSAGE_ID_REUSED = MessageIdReused.code


class SendOut(BaseModel):
    # Every field is always in the answer, `detail` and `error` as null when they say
    # nothing: the document marks them required, so a client need not expect them absent.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    message_id: str | None = Field(description="null only for an invalid message sent "
                                               "without its own id")
    status: SendStatus = Field(description="enqueued, requested (the answer is awaited), "
                                           "enqueue_failed, delivered, rejected, failed; "
                                           "refused (send policy) or invalid (see error): "
                                           "not stored")
    number_of_message_parts: int = Field(ge=0)
    detail: str | None = None
    error: SendError | None = Field(
        default=None, description="for status invalid: invalid_message or message_id_reused")


class SendBatchOut(BaseModel):
    messages: list[SendOut]


# --- a message and its history ------------------------------------------------------

class HistoryEntryOut(BaseModel):
    event: str = Field(description="what happened: Requested, Enqueued, Delivered, "
                                   "ReportNoted, WindowClosed, ...", examples=["Delivered"])
    timestamp: Timestamp
    details: dict[str, Any] = Field(description="the event's own fields, as stored (they "
                                                "differ from one kind of event to another)")


class MessageOut(BaseModel):
    project_id: str
    message_id: str
    status: MessageStatus
    recipient: str = Field(description="E.164", examples=["+385921234567"])
    country: str | None = Field(description="ISO 3166 code of the number's country",
                                pattern="^[A-Z]{2}$")
    customer_id: str
    campaign_id: str | None
    action_id: str | None
    sender: str | None
    integration_id: str
    number_of_message_parts: int = Field(ge=0)
    encoding: Encoding
    window_closes_at: Timestamp | None = Field(
        description="when a missing final report stops being awaited")
    window_closed: WindowOutcome | None = Field(
        description="how the waiting window closed without a final report")
    late: bool = Field(description="the final report came after the window closed")
    history: list[HistoryEntryOut] = Field(description="oldest first")


# --- the campaign-event feed ------------------------------------------------------------

class _MessageEventFields(BaseModel):
    """The properties every event about a message carries (domain.campaign_events
    PROPERTY_NAMES, in that order): null where one does not apply, never missing."""

    action_type: Literal["sms"]
    status: str  # each kind narrows it (the feed's discriminator), in this place
    status_code: int | None = Field(description="Infobip's error or status id")
    error: str | None
    comment: str | None
    number_of_message_parts: int = Field(ge=0)
    campaign_id: str | None
    action_id: str | None
    message_id: str | None
    recipient: str = Field(description="the customer's number")
    sender: str | None = Field(description="our sender name or number")
    integration_id: str


class MessageEventProperties(_MessageEventFields):
    """A message's status changed: sent to Infobip, or its final report."""

    status: Literal["enqueued", "enqueue_failed", "delivered", "rejected", "failed"]


class ReplyEventProperties(_MessageEventFields):
    """A customer's reply; `message_id` is the message it answers (null: unattributed)."""

    status: Literal["incoming_message"]
    message: str = Field(description="the reply's text")
    keyword: str | None = Field(default=None, description="the configured keyword it "
                                                          "starts with; absent if none")
    nps_score: int | None = Field(default=None, ge=0, le=10,
                                  description="for an NPS survey: the score; absent if none")


class ConsentEventProperties(BaseModel):
    """A step of a number's consent to a category (double opt-in included)."""

    action_type: Literal["sms"]
    status: Literal["consent_requested", "consent_granted", "consent_revoked",
                    "consent_expired"]
    consent_category: str
    recipient: str = Field(description="the customer's number")
    source: ConsentSource | None
    message_id: str | None = Field(description="the double opt-in's confirmation message")
    expires_at: Timestamp | None = Field(description="for a double opt-in: when it expires")


class CampaignEventOut(BaseModel):
    event_id: str = Field(description="deterministic: the same event always has this id",
                          json_schema_extra={"format": "uuid"})
    event: str = Field(description="the project's name for the campaign event",
                       examples=["campaign"])
    customer_id: str | None
    timestamp: Timestamp
    properties: Annotated[
        MessageEventProperties | ReplyEventProperties | ConsentEventProperties,
        Field(discriminator="status")]


class EventsOut(BaseModel):
    events: list[CampaignEventOut]
    next: str = Field(description="pass back as `after` to read on", pattern=CURSOR_PATTERN)


# --- a campaign's audit -----------------------------------------------------------------

class NpsOut(BaseModel):
    responses: int = Field(ge=1)
    promoters: int = Field(ge=0, description="scores 9-10")
    passives: int = Field(ge=0, description="scores 7-8")
    detractors: int = Field(ge=0, description="scores 0-6")
    score: float = Field(ge=-100, le=100, description="promoters' share minus "
                                                     "detractors', in percent")


class CampaignAuditOut(BaseModel):
    """The campaign's funnel, replayed from its stored events (application.funnel):
    requested = unresolved + enqueue_failed + enqueued; enqueued = delivered + rejected
    + failed + pending + no_report_expected + no_report_received."""

    project_id: str
    campaign_id: str
    requested: int = Field(ge=0, description="messages the campaign asked for")
    unresolved: int = Field(ge=0, description="no definite answer from Infobip yet")
    enqueued: int = Field(ge=0, description="accepted by Infobip")
    enqueue_failed: int = Field(ge=0, description="Infobip refused the send request")
    delivered: int = Field(ge=0, description="delivered to the handset")
    rejected: int = Field(ge=0, description="rejected by Infobip")
    failed: int = Field(ge=0, description="undeliverable or expired")
    pending: int = Field(ge=0, description="waiting window still open")
    no_report_expected: int = Field(ge=0, description="country sends no delivery reports")
    no_report_received: int = Field(ge=0, description="window closed, no report")
    late: int = Field(ge=0, description="final report after the window closed (counted "
                                        "above)")
    parts: int = Field(ge=0, description="SMS parts billed")
    cost: dict[str, str] = Field(description="currency -> amount as a decimal string, as "
                                             "reported by Infobip", examples=[{"EUR": "2.4480"}])
    as_of: Timestamp | None
    drift: list[str] = Field(description="where the live statistics disagree with the replay")
    nps: NpsOut | None = Field(description="for an NPS survey campaign with responses")


# --- errors -----------------------------------------------------------------------------

class FieldProblem(BaseModel):
    field: str = Field(description="where in the request: body.<name> (`body` for the body "
                                   "as a whole), query.<name>, path.<name> or header.<name>",
                       examples=["body.to"])
    problem: str


class ErrorDetails(BaseModel):
    """What helps fix the request; each property only where it applies."""

    model_config = ConfigDict(extra="forbid")  # a new kind of detail is declared here first

    fields: list[FieldProblem] | None = Field(
        default=None, description="the request's fields that are invalid or were refused, "
                                  "and why (422, 409)")
    max_body_bytes: int | None = Field(default=None, description="413: the largest body taken")
    limit_per_second: float | None = Field(default=None,
                                           description="429: the project's request rate limit")
    retry_after: int | None = Field(default=None, description="429: seconds to wait")


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str
    details: ErrorDetails


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 503)}
