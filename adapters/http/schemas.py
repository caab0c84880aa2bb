"""Request and answer bodies of the client API, as pydantic models (they make the
OpenAPI document and the 422 answers that name the invalid field)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationIn(Strict):
    base_url: str = Field(description="the Infobip account's base URL", examples=[
        "https://xyz.api.infobip.com"])
    api_key: str = Field(description="Infobip API key; stored, never returned or logged")
    senders: list[str] = Field(default_factory=list, max_length=100)
    default_sender: str | None = None
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
    default_provider: str


class EventMappingIn(Strict):
    campaign: str = Field(description="the event name used instead of 'campaign'")


class MessageIn(Strict):
    customer_id: str = Field(min_length=1, max_length=200)
    to: str = Field(min_length=1, max_length=64, description=(
        "phone number in international format (E.164); a number that is not a valid "
        "number is refused: 422 for a single send, the status `invalid` in a batch"))
    text: str = ""
    title: str | None = Field(default=None, description="set for an MMS")
    media_urls: list[str] = Field(default_factory=list)
    campaign_id: str | None = Field(default=None, max_length=200)
    action_id: str | None = Field(default=None, max_length=200)
    sender: str | None = None
    integration: str | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="your own id: a repeated send is not sent twice")
    consent_category: str | None = Field(
        default=None, description="marketing messages name the consent they need; without "
                                  "granted consent they are refused (409 consent_missing)")


class MessageBatchIn(Strict):
    messages: list[MessageIn] = Field(min_length=1, max_length=10_000)


class SendOut(BaseModel):
    message_id: str | None = Field(description="null only for an invalid message sent "
                                               "without its own id")
    status: str = Field(description="enqueued, requested (the answer is awaited), "
                                    "enqueue_failed, delivered, rejected, failed; refused "
                                    "(send policy) or invalid (see error): not stored")
    number_of_message_parts: int
    detail: str | None = None
    error: str | None = Field(default=None, description="for status invalid: invalid_message "
                                                        "or message_id_reused")


class SendBatchOut(BaseModel):
    messages: list[SendOut]


class EventsOut(BaseModel):
    events: list[dict[str, Any]]
    next: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 503)}
