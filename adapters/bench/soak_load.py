"""bench soak's load: threads that keep up a steady mix of requests to the service.

- send: `POST .../messages/batch` of `batch` messages, paced to a rate, the campaign
  changing every CAMPAIGN_SECONDS (campaigns are bounded in real life);
- report: every message answered `enqueued` gets a DELIVERED delivery report, posted to
  the webhook in callbacks of up to CALLBACK_SIZE, as Infobip posts them;
- reply: every REPLY_EVERY-th message's customer answers once its report is stored (the
  inbound webhook, one SMS per POST, as Infobip posts them);
- feed: a reader follows `GET .../events` page by page (every FEED_INTERVAL at the head);
- audit: the current campaign's `GET .../audit` at an interval.

A request that fails (not 2xx, or no answer) is counted and posted again, as Infobip
and a platform retry, so that what the service answered can be checked at the end.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from smsledger.adapters.bench.workload import (
    INTEGRATION,
    PROJECT,
    TEXT,
    delivery_report,
    recipient,
)

# Numeric, so that customers can answer it (an alphanumeric sender cannot get replies).
SENDER = "385921004026"
CAMPAIGN_SECONDS = 10.0
REPLY_EVERY = 20  # one customer in 20 answers
CALLBACK_SIZE = 100
FEED_PAGE = 500
FEED_INTERVAL = 0.25
RETRY_PAUSE = 0.2
KINDS = ("send", "report", "reply", "feed", "audit")


@dataclass
class Tally:
    """One kind of request: items done, latencies (with when each ended), failures."""

    items: int = 0
    # (ended at, seconds taken, items) of each request answered 2xx
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    failures: int = 0
    first_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def done(self, items: int, started: float, ended: float) -> None:
        with self.lock:
            self.items += items
            self.samples.append((ended, ended - started, items))

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures += 1
            if len(self.first_failures) < 3:
                self.first_failures.append(what[:300])


@dataclass
class Load:
    """What the load threads share."""

    base: str
    admin: str
    secret: str
    started: float = field(default_factory=time.perf_counter)
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    reports_due: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    replies_due: queue.Queue[str] = field(default_factory=queue.Queue)
    # message id -> when its report was answered, until the feed shows it delivered
    reported_at: dict[str, float] = field(default_factory=dict)
    feed_delays: list[float] = field(default_factory=list)
    feed_statuses: Counter[str] = field(default_factory=Counter)
    feed_cursor: str = "0"
    sent_ids: set[str] = field(default_factory=set)
    reported_ids: set[str] = field(default_factory=set)
    replied: int = 0
    campaigns: list[str] = field(default_factory=list)
    # The campaign of the last batch answered: one that exists (auditing the campaign a
    # batch is still being built for would be 404, rightly).
    answered_campaign: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def campaign(self) -> str:
        name = f"soak-{int((time.perf_counter() - self.started) // CAMPAIGN_SECONDS):04d}"
        with self.lock:
            if not self.campaigns or self.campaigns[-1] != name:
                self.campaigns.append(name)
        return name

    def client(self, *, webhook: bool) -> httpx.Client:
        auth = (INTEGRATION, self.secret) if webhook else None
        headers = {} if webhook else {"Authorization": f"Bearer {self.admin}"}
        return httpx.Client(base_url=self.base, auth=auth, headers=headers, timeout=60)


def _request(tally: Tally, client: httpx.Client, method: str, path: str, **kwargs: Any
             ) -> tuple[httpx.Response | None, float, float]:
    """One timed request; a failure is counted and answered None."""
    started = time.perf_counter()
    try:
        answer = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.failed(f"{method} {path}: {type(exc).__name__}: {exc}")
        return None, started, time.perf_counter()
    ended = time.perf_counter()
    if not answer.is_success:
        tally.failed(f"{method} {path}: HTTP {answer.status_code}: {answer.text[:200]}")
        return None, started, ended
    return answer, started, ended


def paced(stop: threading.Event, interval: float, action: Callable[[], None]) -> None:
    """`action` every `interval` seconds until stopped; a late one does not make the
    next ones come in a burst."""
    next_at = time.monotonic()
    while not stop.is_set():
        action()
        next_at = max(next_at + interval, time.monotonic())
        stop.wait(next_at - time.monotonic())


def sender(load: Load, batch: int, rate: int, stop: threading.Event) -> None:
    tally = load.tallies["send"]
    counter = [0]
    pending: list[dict[str, str]] = []

    def send_batch() -> None:
        if not pending:  # else: the batch that failed, again (its ids make that safe)
            campaign = load.campaign()
            for _ in range(batch):
                i = counter[0]
                counter[0] += 1
                pending.append({"customer_id": f"cust-{i}", "to": recipient(i), "text": TEXT,
                                "campaign_id": campaign, "message_id": f"soak-{i}"})
        answer, started, ended = _request(tally, client, "POST",
                                          f"/v1/projects/{PROJECT}/messages/batch",
                                          json={"messages": pending})
        if answer is None:
            return
        by_id = {m["message_id"]: m["to"] for m in pending}
        enqueued = [r["message_id"] for r in answer.json()["messages"]
                    if r["status"] == "enqueued"]
        tally.done(len(pending), started, ended)
        with load.lock:
            load.sent_ids.update(enqueued)
            load.answered_campaign = pending[0]["campaign_id"]
        for message_id in enqueued:
            load.reports_due.put((message_id, by_id[message_id]))
        pending.clear()

    with load.client(webhook=False) as client:
        paced(stop, batch / rate, send_batch)


def _take(due: queue.Queue[Any], most: int, stop: threading.Event) -> list[Any]:
    """Up to `most` items, waiting a little for the first; [] once stopped and empty."""
    taken: list[Any] = []
    while not taken and not (stop.is_set() and due.empty()):
        try:
            taken.append(due.get(timeout=0.1))
        except queue.Empty:
            continue
    while len(taken) < most:
        try:
            taken.append(due.get_nowait())
        except queue.Empty:
            break
    return taken


def reporter(load: Load, stop: threading.Event) -> None:
    tally = load.tallies["report"]
    path = f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/delivery-reports"
    with load.client(webhook=True) as client:
        while batch := _take(load.reports_due, CALLBACK_SIZE, stop):
            sent_at = datetime.now(UTC)
            results = []
            for message_id, to in batch:
                report = delivery_report(message_id, to, sent_at)
                report["sender"] = SENDER
                results.append(report)
            while True:  # as Infobip: again until it is answered 2xx
                answer, started, ended = _request(tally, client, "POST", path,
                                                  json={"results": results})
                if answer is not None:
                    break
                time.sleep(RETRY_PAUSE)
            tally.done(len(batch), started, ended)
            with load.lock:
                for message_id, _ in batch:
                    load.reported_ids.add(message_id)
                    load.reported_at[message_id] = ended
            for message_id, to in batch:
                if int(message_id.rsplit("-", 1)[1]) % REPLY_EVERY == REPLY_EVERY // 2:
                    load.replies_due.put(to)


def replier(load: Load, stop: threading.Event) -> None:
    tally = load.tallies["reply"]
    path = f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/inbound"
    with load.client(webhook=True) as client:
        while taken := _take(load.replies_due, 1, stop):
            body = {"results": [{
                "messageId": uuid.uuid4().hex, "from": taken[0].lstrip("+"), "to": SENDER,
                "text": "9 great service", "cleanText": "great service", "keyword": "9",
                "receivedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "smsCount": 1, "price": {"pricePerMessage": 0, "currency": "EUR"}}],
                "messageCount": 1, "pendingMessageCount": 0}
            while True:
                answer, started, ended = _request(tally, client, "POST", path, json=body)
                if answer is not None:
                    break
                time.sleep(RETRY_PAUSE)
            tally.done(1, started, ended)
            with load.lock:
                load.replied += 1


def read_feed(load: Load, client: httpx.Client) -> None:
    """Read pages from the cursor until the head; note what the feed shows."""
    tally = load.tallies["feed"]
    while True:
        answer, started, ended = _request(tally, client, "GET", f"/v1/projects/{PROJECT}/events",
                                          params={"after": load.feed_cursor, "limit": FEED_PAGE})
        if answer is None:
            return
        page = answer.json()
        tally.done(len(page["events"]), started, ended)
        with load.lock:
            for event in page["events"]:
                properties = event["properties"]
                load.feed_statuses[properties["status"]] += 1
                if properties["status"] == "delivered":
                    reported = load.reported_at.pop(properties["message_id"], None)
                    if reported is not None:  # else read before its answer was noted
                        load.feed_delays.append(ended - reported)
        load.feed_cursor = page["next"]
        if len(page["events"]) < FEED_PAGE:
            return


def feed_reader(load: Load, stop: threading.Event) -> None:
    with load.client(webhook=False) as client:
        paced(stop, FEED_INTERVAL, lambda: read_feed(load, client))


def auditor(load: Load, interval: float, first_after: float, stop: threading.Event) -> None:
    tally = load.tallies["audit"]

    def audit() -> None:
        with load.lock:
            campaign = load.answered_campaign
        if campaign is not None:
            answer, started, ended = _request(
                tally, client, "GET", f"/v1/projects/{PROJECT}/campaigns/{campaign}/audit")
            if answer is not None:
                tally.done(1, started, ended)

    with load.client(webhook=False) as client:
        stop.wait(first_after)
        paced(stop, interval, audit)
