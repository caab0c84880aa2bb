"""The Infobip simulator: Infobip's HTTP API over real HTTP, answering by the magic-number rules.

Made for tests and demos on loopback: nothing here is meant to face the internet.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
import socket
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import monotonic
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from smsledger.adapters.infobip_simulator import payloads, rules
from smsledger.adapters.infobip_simulator.dispatcher import Kind, Post, ReportDispatcher
from smsledger.adapters.infobip_simulator.payloads import Channel, Submission
from smsledger.adapters.infobip_simulator.rules import Error, Fault, Status, Timing

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
SEND_PATHS = {"/sms/3/messages": Channel.SMS, "/mms/2/messages": Channel.MMS}
REPORT_PATHS = {"/sms/3/reports": Channel.SMS, "/mms/2/reports": Channel.MMS}
LOGS_PATH = "/sms/3/logs"


@dataclass(frozen=True)
class SimulatorConfig:
    api_key: str = "test-key"
    report_delay: float = 0.5  # real seconds between acceptance and a normal report
    report_batch_size: int = 100  # at most this many reports per webhook POST
    batch_linger: float = 0.05  # real seconds to wait for more reports to fill a POST
    # Real seconds between retries of a failed webhook POST; Infobip waits
    # 1min + 1min * retry^2, compressed here so tests and demos see retries.
    webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
    webhook_timeout: float = 5.0
    slow_answer_seconds: float = 2.0
    retry_after_seconds: int = 1  # the Retry-After header of a 429 answer (rule 92)
    late_report_delay: float = 3.0  # real seconds before a late report (rule 80) is posted
    late_report_days: float = 5  # how far after sentAt a late report's doneAt lies
    price_per_part: float = 0.0085  # EUR
    # Where inbound SMS (customers' replies) are pushed. Infobip configures this per number or
    # account, not per message; user:secret@ in the URL is sent as Basic auth.
    inbound_webhook_url: str | None = None
    reply_delay: float = 0.3  # real seconds from a delivery report to the reply (rules 85-88)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: Any  # the parsed JSON body; None if it was not JSON
    status: int | None  # None: the connection was dropped without an answer


@dataclass
class _Message:
    """A message the simulator took in, kept for logs, duplicates and pulled reports."""

    submission: Submission
    bulk_id: str
    message_id: str
    sent_at: datetime
    # What the network did to it, as (monotonic time it happens, doneAt, status, error).
    timeline: list[tuple[float, datetime, Status, Error]] = field(default_factory=list)


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: drop the connection
    body: dict[str, Any] | None = None
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


_NOT_JSON = object()


class InfobipSimulator:
    """Speaks Infobip's SMS and MMS API on host:port (port 0 picks a free one)."""

    def __init__(
        self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SimulatorConfig()
        self._address = (host, port)
        self._lock = threading.Lock()
        self._messages: dict[str, _Message] = {}
        # Each simulated customer replies once: the answer to a STOP must not draw
        # another STOP, which would ping-pong for ever.
        self._replied: set[str] = set()
        self._replied_lock = threading.Lock()  # _reply runs under self._lock already
        self._accepted: list[str] = []
        self._requests: list[RecordedRequest] = []
        self._fault_keys: set[str] = set()  # messages that already met their fault once
        self._inbox: list[dict[str, Any]] = []  # reports waiting to be pulled
        self._inbound: dict[str, dict[str, Any]] = {}  # inbound messages posted, by messageId
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dispatcher: ReportDispatcher | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> InfobipSimulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._dispatcher = ReportDispatcher(
            batch_size=self.config.report_batch_size,
            linger=self.config.batch_linger,
            retry_delays=self.config.webhook_retry_delays,
            timeout=self.config.webhook_timeout,
            keep_for_pull=self._keep_for_pull,
        )
        self._server = _Server(self._address, self)
        self._dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long stop() waits for the loop to notice
            name="infobip-simulator-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and posting; returns once every thread the simulator started has ended."""
        if self._server is None:
            return
        self._stopping.set()  # also cuts slow answers short
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()  # joins the request threads
        assert self._thread is not None and self._dispatcher is not None  # set by start()
        self._thread.join()
        self._dispatcher.stop()
        self._server = self._thread = None

    def __enter__(self) -> InfobipSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------ what tests and demos look at

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request to a send endpoint, in arrival order."""
        with self._lock:
            return list(self._requests)

    def sent_message_ids(self) -> list[str]:
        """Ids of the messages accepted for sending, in order of acceptance."""
        with self._lock:
            return list(self._accepted)

    def wait_until_idle(self, timeout: float | None = 10) -> bool:
        """Block until every scheduled report and reply was posted or given up; False on timeout."""
        return self._dispatcher is not None and self._dispatcher.wait_until_idle(timeout)

    @property
    def webhook_failures(self) -> int:
        """Webhook POSTs that failed (a non-2xx answer or no answer); each failed retry counts."""
        return self._dispatcher.failures if self._dispatcher else 0

    @property
    def reports_given_up(self) -> int:
        """Reports and inbound messages dropped because every retry of their POST failed."""
        return self._dispatcher.given_up if self._dispatcher else 0

    # ------------------------------------------------------------ inbound SMS

    def send_inbound(
        self,
        from_number: str,
        to_number: str,
        text: str,
        *,
        url: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Push one inbound SMS (a customer's message) to `url` or the configured inbound webhook.

        `from_number` is the customer, `to_number` the number they wrote to; both become
        digits without '+'. The POST is made in the background, retried like reports (see
        `wait_until_idle`, `webhook_failures`, `reports_given_up`). Returns the messageId;
        `message_id` lets tests post the same message again, as Infobip may: posting a known
        messageId again with the same from, to and text repeats the very same payload.
        """
        target = url or self.config.inbound_webhook_url
        if not target:
            raise ValueError("no inbound webhook: pass url or configure inbound_webhook_url")
        if self._server is None or self._dispatcher is None:
            raise RuntimeError("the simulator is not running")
        sender, receiver = _digits(from_number, "from_number"), _digits(to_number, "to_number")
        message_id = message_id or _new_id()
        with self._lock:
            message = self._inbound.get(message_id)
            same = message and (message["from"], message["to"], message["text"]) == (
                sender,
                receiver,
                text,
            )
            if not same or message is None:
                message = payloads.inbound_message(
                    message_id=message_id,
                    from_number=sender,
                    to_number=receiver,
                    text=text,
                    received_at=datetime.now(UTC),
                )
                self._inbound[message_id] = message
        self._dispatcher.schedule([Post(target, message, kind=Kind.INBOUND)])
        return message_id

    # ------------------------------------------------------------ answering requests

    def _answer(
        self, method: str, target: str, authorization: str | None, raw_body: bytes
    ) -> _Answer:
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query)
        body = _parse_json(raw_body) if method == "POST" else None
        if not self._authorized(authorization):
            answer = _error(401)
        elif method == "POST" and path in SEND_PATHS:
            answer = self._send(SEND_PATHS[path], body)
        elif method == "GET" and path in REPORT_PATHS:
            answer = self._pull_reports(REPORT_PATHS[path], query)
        elif method == "GET" and path == LOGS_PATH:
            answer = self._logs(query)
        else:
            answer = _error(404)
        if method == "POST" and path in SEND_PATHS:
            recorded = RecordedRequest(path, None if body is _NOT_JSON else body, answer.status)
            with self._lock:
                self._requests.append(recorded)
        return answer

    def _authorized(self, authorization: str | None) -> bool:
        expected = f"App {self.config.api_key}".encode()
        return hmac.compare_digest((authorization or "").encode(), expected)

    def _send(self, channel: Channel, body: Any) -> _Answer:
        if body is _NOT_JSON:
            return _error(400, [{"property": "", "violation": "the request body must be JSON"}])
        bulk_id, submissions, violations = payloads.parse_send_request(channel, body)
        if violations:
            return _error(400, violations)
        with self._lock:
            fault = self._fault_for(submissions)
            if fault is Fault.DROP:
                return _Answer(None)
            if fault is Fault.SERVER_ERROR:
                return _error(500)
            if fault is Fault.TOO_MANY_REQUESTS:
                retry_after = (("Retry-After", str(self.config.retry_after_seconds)),)
                return replace(_error(429), headers=retry_after)
            bulk_id = bulk_id or _new_id()
            now = datetime.now(UTC)
            results = [self._take_in(submission, bulk_id, now) for submission in submissions]
        if fault is Fault.ACCEPTED_THEN_DROPPED:
            return _Answer(None)  # taken in above; the answer never leaves
        # A slow answer is slow after acceptance: the client may give up on a message that went out.
        delay = self.config.slow_answer_seconds if fault is Fault.SLOW else 0.0
        return _Answer(200, payloads.send_answer(bulk_id, results), delay)

    def _fault_for(self, submissions: list[Submission]) -> Fault | None:
        struck = set()
        for submission in submissions:
            outcome = rules.outcome_for(submission.to)
            # Without a messageId, the number stands for the message.
            key = submission.message_id or submission.to
            fault = rules.fault_strikes(outcome, seen_before=key in self._fault_keys)
            if outcome.fault:
                self._fault_keys.add(key)
            if fault:
                struck.add(fault)
        return rules.worst(struck)

    def _take_in(
        self, submission: Submission, bulk_id: str, now: datetime
    ) -> tuple[str, Submission, Status]:
        if submission.message_id in self._messages:
            return submission.message_id, submission, rules.REJECTED_DUPLICATE_MESSAGE_ID
        outcome = rules.outcome_for(submission.to)
        message = _Message(submission, bulk_id, submission.message_id or _new_id(), now)
        self._messages[message.message_id] = message
        if outcome.send_status is rules.PENDING_ACCEPTED:
            self._accepted.append(message.message_id)
            self._schedule_reports(message, outcome)
        else:  # refused in the answer itself: final at once, nothing to report
            message.timeline.append((monotonic(), now, outcome.send_status, rules.NO_ERROR))
        return message.message_id, submission, outcome.send_status

    def _schedule_reports(self, message: _Message, outcome: rules.Outcome) -> None:
        config, now = self.config, monotonic()
        post_delays = {
            Timing.IMMEDIATE: 0.0,
            Timing.NORMAL: config.report_delay,
            Timing.LATE: config.late_report_delay,
        }
        submission = message.submission
        # With notify false Infobip pushes nothing; the reports can still be pulled.
        webhook = submission.webhook_url if submission.notify else None
        chain, last_delay, last_done_at = [], 0.0, message.sent_at
        for step in outcome.reports:
            delay = post_delays[step.timing]
            done_after = (
                timedelta(days=config.late_report_days)
                if step.timing is Timing.LATE
                else step.done_after
            )
            done_at = message.sent_at + done_after
            report = functools.partial(
                payloads.delivery_report,
                message.submission,
                bulk_id=message.bulk_id,
                message_id=message.message_id,
                sent_at=message.sent_at,
                done_at=done_at,
                status=step.status,
                error=step.error,
                price_per_part=config.price_per_part,
            )
            chain.append(Post(webhook, report, delay=delay))
            message.timeline.append((now + delay, done_at, step.status, step.error))
            last_delay, last_done_at = delay, done_at
        reply = self._reply(message, outcome, last_delay, last_done_at)
        if reply:
            chain.append(reply)
        assert self._dispatcher is not None  # requests are answered only once started
        self._dispatcher.schedule(chain)

    def _reply(
        self, message: _Message, outcome: rules.Outcome, after_delay: float, after: datetime
    ) -> Post | None:
        """The customer's automatic reply, posted reply_delay after the message's last report.

        None when the rule has no reply, no inbound webhook is configured, the message
        cannot be answered (alphanumeric senders, or none, get no replies), or this
        customer has replied before (customers reply to the first message only).
        """
        config = self.config
        url = config.inbound_webhook_url
        answer_to = payloads.numeric_address(message.submission.sender)
        if outcome.reply is None or not url or answer_to is None:
            return None
        with self._replied_lock:
            if message.submission.to in self._replied:
                return None
            self._replied.add(message.submission.to)
        # Network time, like a report's doneAt: reply_delay after the delivered report's doneAt.
        received_at = after + timedelta(seconds=config.reply_delay)
        inbound = payloads.inbound_message(
            message_id=_new_id(),
            from_number=message.submission.to,
            to_number=answer_to,
            text=outcome.reply,
            received_at=received_at,
        )
        delay = after_delay + config.reply_delay
        return Post(url, inbound, delay=delay, gap=config.reply_delay, kind=Kind.INBOUND)

    def _keep_for_pull(self, report: dict[str, Any]) -> None:
        with self._lock:
            self._inbox.append(report)

    def _pull_reports(self, channel: Channel, query: dict[str, list[str]]) -> _Answer:
        limit = _limit(query)
        if limit is None:
            return _error(400, [_limit_violation()])
        with self._lock:
            taken: list[dict[str, Any]] = []
            kept: list[dict[str, Any]] = []
            for report in self._inbox:
                message = self._messages[report["messageId"]]
                wanted = message.submission.channel is channel and _matches(message, query)
                (taken if wanted and len(taken) < limit else kept).append(report)
            self._inbox = kept  # Infobip returns each report once only
        return _Answer(200, {"results": taken})

    def _logs(self, query: dict[str, list[str]]) -> _Answer:
        limit = _limit(query)
        if limit is None:
            return _error(400, [_limit_violation()])
        now = monotonic()
        with self._lock:
            messages = [
                message
                for message in self._messages.values()
                if message.submission.channel is Channel.SMS and _matches(message, query)
            ][:limit]
            entries = [self._log_entry(message, now) for message in messages]
        return _Answer(200, {"results": entries})

    def _log_entry(self, message: _Message, now: float) -> dict[str, Any]:
        happened = [event for event in message.timeline if event[0] <= now]
        if happened:
            # The newest network time wins, so an out-of-order pending never hides a final status.
            _, done_at, status, error = max(happened, key=lambda event: event[1])
        else:
            done_at, status, error = None, rules.PENDING_ACCEPTED, rules.NO_ERROR
        return payloads.log_entry(
            message.submission,
            bulk_id=message.bulk_id,
            message_id=message.message_id,
            sent_at=message.sent_at,
            done_at=done_at,
            status=status,
            error=error,
            price_per_part=self.config.price_per_part,
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of the real API expect
    # Headers and body go out in separate writes; without TCP_NODELAY each answer on a
    # kept-alive connection waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        simulator = self.server.simulator
        answer = simulator._answer(method, self.path, self.headers.get("Authorization"), raw)
        if answer.delay:
            simulator._stopping.wait(answer.delay)
        if answer.status is None:
            # Close without a byte of HTTP, as a crashed server or a cut network would.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = orjson.dumps(answer.body)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting, as clients of slow answers do.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    # server_close() joins the request threads, so stop() leaves none behind; they are
    # daemons only so that a simulator never stopped cannot hold up the interpreter's exit.
    daemon_threads = True
    block_on_close = True
    server_address: tuple[str, int]  # an AF_INET socket's name: host and port

    def __init__(self, address: tuple[str, int], simulator: InfobipSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    # typeshed types requests for datagram servers too, as (bytes, socket); this is a
    # stream server, whose requests are sockets.
    def process_request(  # type: ignore[override]
        self, request: socket.socket, client_address: Any
    ) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake request threads waiting on idle keep-alive connections, so they can end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.simulator._stopping.is_set():  # connections cut by stop() are expected to fail
            super().handle_error(request, client_address)


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 8088,
    api_key: str = "test-key",
    config: SimulatorConfig | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C (or until `stop` is set): the body of `smsledger simulator`."""
    config = replace(config or SimulatorConfig(), api_key=api_key)
    stop = stop or threading.Event()
    with InfobipSimulator(config, host=host, port=port) as simulator:
        print(f"Infobip simulator listening on {simulator.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # also covers bytes that are not UTF-8
        return _NOT_JSON


def _limit(query: dict[str, list[str]]) -> int | None:
    raw = query.get("limit", [str(DEFAULT_LIMIT)])[0]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return None
    return int(raw)


def _limit_violation() -> dict[str, str]:
    return {"property": "limit", "violation": f"must be a whole number from 1 to {MAX_LIMIT}"}


def _matches(message: _Message, query: dict[str, list[str]]) -> bool:
    # Infobip takes several ids as repeated parameters or comma-separated values.
    ids, bulks = _values(query, "messageId"), _values(query, "bulkId")
    return (not ids or message.message_id in ids) and (not bulks or message.bulk_id in bulks)


def _values(query: dict[str, list[str]], name: str) -> set[str]:
    return {v for value in query.get(name, ()) for v in value.split(",") if v}


def _error(status: int, violations: list[dict[str, str]] | None = None) -> _Answer:
    return _Answer(status, payloads.error_body(status, violations))


def _new_id() -> str:
    return uuid.uuid4().hex


def _digits(number: str, name: str) -> str:
    digits = payloads.numeric_address(number)
    if digits is None:
        raise ValueError(f"{name} must be a number (digits, may start with '+'): {number!r}")
    return digits
