"""`smsledger demo`: a whole campaign against the built-in Infobip simulator.

Everything is real except Infobip: the simulator answers over HTTP on loopback
and posts its delivery reports to our webhook, also on loopback; messages go
through the real adapter into the store the settings name (the embedded SQLite
file by default). Days are compressed: the clock is fast-forwarded four days to
close the waiting windows, and a few reports are held back to arrive "on day 5".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import phonenumbers

from smsledger.adapters.cli.audit_report import format_audit
from smsledger.adapters.cli.progress import Progress, say
from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import Settings, load_settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.system import OffsetClock
from smsledger.application.audit import CampaignAudit
from smsledger.application.commands import SendRequest

INTEGRATION = "infobip"
SHOP_NUMBER = "385991234567"  # a long number, so customers can reply
DEMO_EVENT_NAME = "sms_status"
LATE_REPORT_DELAY = 5.0  # real seconds: well after the other reports are in


def wait_seconds(messages: int) -> float:
    """How long a wait of the demo may take before it gives up: 30 s, plus a second
    per 50 messages (436 s for 20,000, whose replies took 90 s to come in on two
    shared cores: the margin is for slower machines)."""
    return 30.0 + messages / 50


class DemoGaveUp(RuntimeError):
    """A wait of the demo gave up: the message names what it waited for and what it saw."""

# (country, last two digits, share of the campaign, what the simulator will do).
# The last two digits are the simulator's magic numbers (adapters/infobip_simulator/README.md).
CAMPAIGN_PLAN = [
    ("HR", "00", 0.17, "delivered"),
    ("CH", "00", 0.10, "delivered"),
    ("GB", "10", 0.08, "pending, then delivered"),
    ("FR", "50", 0.05, "delivered, report sent twice"),
    ("NL", "60", 0.05, "delivered, reports out of order"),
    ("SE", "20", 0.05, "rejected at once"),
    ("ES", "21", 0.03, "rejected in the send answer"),
    ("IT", "30", 0.05, "failed: EC_UNIDENTIFIED_SUBSCRIBER"),
    ("AT", "31", 0.04, "failed: EC_ABSENT_SUBSCRIBER_SM"),
    ("HR", "40", 0.03, "expired"),
    ("HR", "70", 0.05, "no report ever"),
    ("CH", "80", 0.05, "delivered, report arrives on day 5"),
    ("HR", "85", 0.03, "delivered, then the customer replies STOP"),
    ("HR", "88", 0.02, "delivered, then a reply with 'stop' mid-sentence"),
    ("DE", "00", 0.10, "Germany: no delivery reports"),
    ("BR", "00", 0.10, "Brazil: no delivery reports"),
]
TEXTS = [
    "Spring sale: 20% off everything until Sunday. Reply STOP to opt out.",
    "Your cart misses you! Complete your order today and shipping is on us. "
    "Use code SPRING20 at checkout. Offer valid until midnight, while stocks last. "
    "Reply STOP to opt out.",
    "Flash sale ⚡ 50% off sneakers, today only. Reply STOP to opt out.",
]


@dataclass(frozen=True)
class DemoResult:
    audit: CampaignAudit
    event_name: str
    feed_events: int
    feed_names: set[str]
    unresolved_after_send: int
    replies: int = 0
    unsubscribed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.audit.to_dict(), "event_name": self.event_name,
                "feed_events": self.feed_events, "replies": self.replies,
                "unsubscribed": self.unsubscribed}


def campaign_recipients(total: int) -> list[tuple[str, str]]:
    """(phone number, plan label) for `total` messages, following CAMPAIGN_PLAN."""
    recipients: list[tuple[str, str]] = []
    for index, (country, suffix, share, label) in enumerate(CAMPAIGN_PLAN):
        count = max(1, round(total * share))
        example = _example_mobile(country)
        for i in range(count):
            # Vary the digits before the magic suffix so every recipient is distinct.
            number = f"{example[:-6]}{(index * 997 + i) % 10_000:04d}{suffix}"
            recipients.append((number, label))
    # Shares are rounded: top up with plain deliveries, or trim, to exactly `total`.
    country, suffix, _, label = CAMPAIGN_PLAN[0]
    example = _example_mobile(country)
    extra = 0
    while len(recipients) < total:
        recipients.append((f"{example[:-6]}{9000 + extra:04d}{suffix}", label))
        extra += 1
    return recipients[:total]


def _example_mobile(country: str) -> str:
    """phonenumbers' example mobile number of the country, in E.164."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"phonenumbers has no example mobile number for {country}")
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def run_demo(settings: Settings | None = None, *, messages: int = 300,
             progress: Callable[[str], None] = say, bars: bool | None = None,
             ) -> DemoResult:
    """The whole demo; its progress lines go to `progress` (stderr, above any bar),
    its bars to stderr when it is a terminal (`bars` None) or when `bars` is True.
    DemoGaveUp when a wait for reports or replies runs out of time."""
    settings = settings or load_settings()
    # The simulator answers on loopback, which integrations may only point at when
    # private networks are allowed; the demo's project is its own.
    settings = settings.model_copy(update={"allow_private_networks": True})
    started = time.monotonic()
    project_id = "demo-" + secrets.token_hex(3)
    campaign_id = "spring-sale-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    api_key = secrets.token_urlsafe(24)
    clock = OffsetClock()
    simulator_config = SimulatorConfig(api_key=api_key, report_delay=0.2,
                                       late_report_delay=LATE_REPORT_DELAY, late_report_days=5)

    timeout = wait_seconds(messages)

    with InfobipSimulator(simulator_config) as simulator, BackgroundServer() as webhook_server:
        channel = bootstrap(settings=settings, public_url=webhook_server.url, clock=clock)
        try:
            webhook_server.start(create_app(ServiceContext.serving(channel, webhook_server.url,
                                                                   settings)))
            progress(f"Infobip simulator on {simulator.base_url}; "
                     f"smsledger on {webhook_server.url}")
            # The project is set up as an admin would over the API: its Infobip account,
            # senders, default provider and the name its campaign events go by.
            channel.projects.create_project(project_id, name="Demo shop")
            _, secret = channel.projects.configure_integration(
                project_id, INTEGRATION, base_url=simulator.base_url, api_key=api_key,
                senders=[SHOP_NUMBER, "AcmeShop"], default_sender=SHOP_NUMBER,
                changed_by="demo")
            # Infobip forwards customers' replies to our inbound webhook.
            simulator.config = replace(simulator.config, inbound_webhook_url=(
                f"http://{INTEGRATION}:{secret}@{webhook_server.host}:{webhook_server.port}"
                f"/v1/webhooks/infobip/{project_id}/{INTEGRATION}/inbound"))
            channel.projects.choose_default_provider(project_id, INTEGRATION, changed_by="demo")
            channel.rename_campaign_event(project_id, DEMO_EVENT_NAME, changed_by="demo")
            progress(f"Project {project_id!r} maps the 'campaign' event to {DEMO_EVENT_NAME!r}")

            recipients = campaign_recipients(messages)
            requests = [
                SendRequest(customer_id=f"customer-{i:05d}", to=number,
                            text=TEXTS[i % len(TEXTS)], campaign_id=campaign_id,
                            action_id="sms-blast-1")
                for i, (number, _) in enumerate(recipients)
            ]
            progress(f"Sending campaign {campaign_id!r}: {len(requests)} messages to "
                     f"{len({_country(n) for n, _ in recipients})} countries ...")
            sending_started = time.monotonic()
            by_status: dict[str, int] = {}
            # Calls of at least a send batch each (the ledger pipelines the batches of one
            # call), about twenty calls for a big campaign, so the bar moves.
            call = max(settings.send_batch_size, len(requests) // 20)
            with Progress("sending", total=len(requests), unit="messages",
                          enabled=bars) as bar:
                for start in range(0, len(requests), call):
                    for sent in channel.send(project_id, requests[start:start + call]):
                        by_status[sent.status] = by_status.get(sent.status, 0) + 1
                    bar.update(min(start + call, len(requests)))
            for line in send_summary(by_status, time.monotonic() - sending_started):
                progress(line)

            # Reports come in over HTTP; wait until only the messages that get no report
            # yet (no-report countries, "never", "day 5") are still pending.
            awaiting = sum(1 for _, label in recipients
                           if "no report" in label or "day 5" in label
                           or "no delivery" in label)
            expected = (len(recipients) - awaiting - by_status.get("enqueue_failed", 0)
                        - by_status.get("requested", 0))

            def reported() -> int:
                counts = channel.audit(project_id, campaign_id).counts
                return counts["enqueued"] - counts["pending"]

            waited = _wait_for("the delivery reports", reported, expected, timeout=timeout,
                               bars=bars)
            progress(f"  {expected} messages final after {waited:.1f}s (their reports came "
                     f"over HTTP); {awaiting} wait without a report (no-report countries, "
                     "never reported, day 5)")

            replying = sum(1 for _, label in recipients if "repl" in label)
            waited = _wait_for("the customers' replies",
                               lambda: len(_replies(channel, project_id, campaign_id)),
                               replying, timeout=timeout, bars=bars)
            progress(f"  {replying} customers replied, all in after {waited:.1f}s")

            progress("Fast-forwarding the clock by 4 days and closing the waiting windows ...")
            clock.advance(timedelta(days=4, minutes=1))
            closed = channel.close_due_windows()
            progress(f"  {closed} waiting windows closed")

            progress("Waiting for the reports that arrive on day 5 ...")
            if not simulator.wait_until_idle(timeout=LATE_REPORT_DELAY + timeout):
                raise DemoGaveUp(f"gave up after {LATE_REPORT_DELAY + timeout:.0f}s waiting "
                                 "for the simulator to post its last reports")
            day_5 = sum(1 for _, label in recipients if "day 5" in label)
            waited = _wait_for("the reports of day 5",
                               lambda: channel.audit(project_id, campaign_id).counts["late"],
                               day_5, timeout=timeout, bars=bars)
            progress(f"  {day_5} late reports in after {waited:.1f}s; the simulator's webhook "
                     f"posts: {simulator.webhook_failures} failed, "
                     f"{simulator.reports_given_up} given up")

            audit = channel.audit(project_id, campaign_id)
            feed = channel.campaign_events(project_id, limit=100_000).events
            feed = [e for e in feed if e.properties.get("campaign_id") == campaign_id]
            unsubscribed = [e for e in channel.campaign_events(project_id, limit=100_000).events
                            if e.status == "consent_revoked"]
            progress(f"Done in {time.monotonic() - started:.1f}s")
            return DemoResult(audit=audit, event_name=channel.campaign_event_name(project_id),
                              feed_events=len(feed), feed_names={e.name for e in feed},
                              unresolved_after_send=by_status.get("requested", 0),
                              replies=len(_replies(channel, project_id, campaign_id)),
                              unsubscribed=len(unsubscribed))
        finally:
            webhook_server.stop()
            channel.close()


def send_summary(by_status: dict[str, int], seconds: float) -> list[str]:
    """The send answers in the audit's words. A message Infobip accepted is `enqueued`
    even when its answer, or a report before the call returned, already made it final
    (`rejected`...): the audit counts it under enqueued and under its outcome, so the
    summary does too, rather than "enqueued 291, rejected 9" beside an audit's 300."""
    requested = sum(by_status.values())
    unresolved = by_status.get("requested", 0)
    refused = by_status.get("enqueue_failed", 0)
    enqueued = requested - unresolved - refused
    lines = [f"  {requested} requested: {enqueued} accepted by Infobip (enqueued), "
             f"{refused} refused (enqueue_failed), {unresolved} without an answer (unresolved)"]
    final = {status: count for status, count in sorted(by_status.items())
             if status not in ("requested", "enqueue_failed", "enqueued")}
    if final:
        lines.append("  of the enqueued, already final in Infobip's answer: "
                     + ", ".join(f"{count} {status}" for status, count in final.items()))
    rate = f" ({requested / seconds:,.0f} messages/s)" if seconds > 0 else ""
    lines.append(f"  sent in {seconds:.1f}s{rate}")
    return lines


def _replies(channel: Any, project_id: str, campaign_id: str) -> list[Any]:
    return [e for e in channel.campaign_events(project_id, limit=100_000).events
            if e.status == "incoming_message" and e.properties["campaign_id"] == campaign_id]


def _country(number: str) -> str:
    return phonenumbers.region_code_for_number(phonenumbers.parse(number)) or "?"


def _wait_for(what: str, measure: Callable[[], int], target: int, *, timeout: float,
              bars: bool | None) -> float:
    """Wait until measure() reaches target; the seconds it took. DemoGaveUp, naming
    `what` and the figure reached, after `timeout` seconds. The pause between checks
    grows with a check's cost (an audit of a big campaign takes a while)."""
    started = time.monotonic()
    with Progress(f"waiting for {what}", total=target, enabled=bars) as bar:
        while True:
            checked = time.monotonic()
            value = measure()
            bar.update(value)
            if value >= target:
                return time.monotonic() - started
            if checked - started > timeout:
                raise DemoGaveUp(f"gave up after {timeout:.0f}s waiting for {what}: "
                                 f"{value} of {target}")
            time.sleep(max(0.1, time.monotonic() - checked))


def format_demo(result: DemoResult) -> str:
    return (f"{format_audit(result.audit)}\n\nCampaign events: {result.feed_events} in the feed, "
            f"published as {result.event_name!r} (the project's mapping of 'campaign'),\n"
            f"{result.replies} of them replies (incoming_message); {result.unsubscribed} "
            "customers unsubscribed by STOP and were answered")
