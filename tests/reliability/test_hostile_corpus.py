"""A fixed corpus of hostile webhook bodies, each with the answer the README's rules give
it ("Hostile input at the webhooks", "Reports for unknown ids are parked, not dropped",
`max_body_bytes`), over real HTTP on loopback, on SQLite and on PostgreSQL.

The tables below are the rules, one row per case: a bad item beside a good one
(quarantined with its reason; the good one stored; 200), items exactly at a limit
(stored), bodies that cannot be read or are too large (refused whole, nothing stored),
credentials (checked before the body), and ids we do not know (parked, 200). They add
to tests/service/test_hostile_input.py, which has the first cases of each kind (NUL and
lone surrogates in ids and texts, 10^400 and 2^63 part counts, nesting 300 deep, long
ids, 10^5 open brackets) and is not repeated here.

Bodies are written as text, sent as UTF-8; a lone surrogate in the text (not an
escape) goes over the wire as the invalid bytes it makes ("surrogatepass").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.config import load_settings
from service.conftest import SIMULATOR_KEY, configure_infobip
from support.postgres import POSTGRES_URL, connect
from support.wiring import ledger_of

NO_REPORT = "+385921230070"  # the simulator never reports on numbers ending in 70
DELIVERED = '{"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}'
MAX_BODY = 4 * 1024 * 1024  # max_body_bytes by default
_numbers = count(1)


@dataclass
class Corpus:
    url: str
    channel: SmsChannel
    acme: httpx.Client  # acme's admin
    globex: httpx.Client  # globex's admin
    acme_secret: str
    globex_secret: str

    def post(self, kind: str, body: str | bytes | Iterator[bytes], *,
             secret: str | None = None, project: str = "acme") -> httpx.Response:
        """POST to acme's webhook; an iterator of bytes goes chunked (no Content-Length)."""
        content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        return httpx.post(f"{self.url}/v1/webhooks/infobip/{project}/infobip/{kind}",
                          content=content, auth=("infobip", secret or self.acme_secret),
                          headers={"content-type": "application/json"}, timeout=60)

    def quarantined(self) -> list[dict]:
        return ledger_of(self.channel).quarantined_inputs("acme")

    def send(self, client: httpx.Client | None = None, project: str = "acme",
             message_id: str | None = None) -> str:
        """A message that will get no report of its own: reports come from the test."""
        sent = (client or self.acme).post(f"/v1/projects/{project}/messages", json={
            "customer_id": "c1", "to": NO_REPORT, "text": "Spring sale",
            "campaign_id": "spring", **({"message_id": message_id} if message_id else {})})
        assert sent.status_code == 202, sent.text
        return str(sent.json()["message_id"])

    def status(self, message_id: str, client: httpx.Client | None = None,
               project: str = "acme") -> str:
        answer = (client or self.acme).get(f"/v1/projects/{project}/messages/{message_id}")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def corpus(request, tmp_path_factory) -> Iterator[Corpus]:
    """One service per store for the module, with its default body limit; two projects,
    each with an integration `infobip` of its own webhook secret."""
    if request.param == "postgres":
        url = request.getfixturevalue("corpus_postgres_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('corpus')}/store.db"
    settings = load_settings(database_url=url, secret_key="corpus-tests-0123456789abcdef",
                             allow_private_networks=True)
    assert settings.max_body_bytes == MAX_BODY
    with InfobipSimulator(SimulatorConfig(api_key=SIMULATOR_KEY)) as simulator, \
            BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            tokens = {p: channel.projects.create_project(p) for p in ("acme", "globex")}
            with httpx.Client(base_url=server.url, timeout=60, headers={
                    "Authorization": f"Bearer {tokens['acme']}"}) as acme, \
                    httpx.Client(base_url=server.url, timeout=60, headers={
                        "Authorization": f"Bearer {tokens['globex']}"}) as globex:
                secrets = {p: configure_infobip(c, simulator, p)["webhooks"]["secret"]
                           for p, c in (("acme", acme), ("globex", globex))}
                yield Corpus(server.url, channel, acme, globex, secrets["acme"],
                             secrets["globex"])
        finally:
            server.stop()
            channel.close()


@pytest.fixture(scope="module")
def corpus_postgres_url(postgres_available) -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:16]
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?schema={schema}"
    with connect() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def report(message_id: str, extra: str = "", status: str = DELIVERED) -> str:
    return f'{{"messageId": "{message_id}", "status": {status}{extra}}}'


def inbound(message_id: str, fields: str = ', "text": "hello there"',
            sender: str = '"385921230071"') -> str:
    return f'{{"messageId": "{message_id}", "from": {sender}, "to": "385991234567"{fields}}}'


def deep(levels: int) -> str:
    """A value of `levels` nested lists; with the item and `extra` it is one more."""
    return "[" * levels + "]" * levels


# --- a bad item beside a good one: quarantined with its reason, the good one stored -------

# rule -> (the bad delivery report, written with "{id}" for an id of its own; the reason)
BAD_REPORTS = {
    # text PostgreSQL or UTF-8 cannot hold
    "NUL in a key": (report("{id}", ', "call\\u0000back": 1'), "a key with a NUL character"),
    "lone surrogate as raw bytes": (report("{id}\ud800"), "messageId holds a lone surrogate"),
    # sizes
    "nesting of 17 levels": (report("{id}", ', "extra": ' + deep(16)),
                             "nesting deeper than 16 levels"),
    "a string of 16,385 characters": (report("{id}", ', "callbackData": "' + "c" * 16_385 + '"'),
                                      "a string of 16385 characters (at most 16384)"),
    "a key of 257 characters": (report("{id}", ', "' + "k" * 257 + '": 1'),
                                "a key with a string of 257 characters (at most 256)"),
    # numbers
    "an integer of 100,000 digits": (report("{id}", ', "messageCount": ' + "7" * 100_000),
                                     "messageCount holds an integer of 100000 digits"),
    "status.groupId 2^63": (report("{id}", status='{"groupId": 9223372036854775808, '
                                                  '"groupName": "DELIVERED"}'),
                            "status.groupId holds an integer beyond 64 bits"),
    # orjson reads an integer it cannot hold as an int (below -2^63, above 2^64-1) as a
    # float, silently: it was stored changed, or refused for the wrong reason.
    "error.id -2^63-1": (report("{id}", ', "error": {"id": -9223372036854775809}'),
                         "error.id holds a number beyond 64 bits"),
    "an integer of 21 digits in a field we do not read": (
        report("{id}", ', "extra": 100000000000000000000'), "extra holds a number beyond 64 bits"),
    "1e300 as a part count": (report("{id}", ', "messageCount": 1e300'),
                              "messageCount holds a number beyond 64 bits"),
    "NaN": (report("{id}", ', "messageCount": NaN'), "messageCount holds a number that is "
                                                     "not finite (nan)"),
    "-Infinity in a price": (report("{id}", ', "price": {"pricePerMessage": -Infinity}'),
                             "price.pricePerMessage holds a number that is not finite (-inf)"),
    # wrong types
    "messageId true": ('{"messageId": true, "status": %s}' % DELIVERED, "'messageId' is missing"),
    "messageId an object": ('{"messageId": {"id": "x"}, "status": %s}' % DELIVERED,
                            "'messageId' is missing"),
    "status a string": (report("{id}", status='"DELIVERED"'), "'status' must be an object"),
    "status.groupId unknown": (report("{id}", status='{"groupId": 42}'),
                               "unknown status group id 42"),
    "doneAt a number": (report("{id}", ', "doneAt": 12345'), "timestamp 12345 is not a string"),
    "doneAt not a time": (report("{id}", ', "doneAt": "yesterday"'),
                          "timestamp 'yesterday' is not in Infobip's format"),
    "messageCount 1.5": (report("{id}", ', "messageCount": 1.5'),
                         "'messageCount' must be a whole number"),
    "messageCount -1": (report("{id}", ', "messageCount": -1'),
                        "part count must be a positive integer"),
    "an item that is null": ("null", "a result must be an object"),
    "an item that is a list": (f"[{report('{id}')}]", "a result must be an object"),
    # missing fields
    "no messageId": ('{"status": %s}' % DELIVERED, "'messageId' is missing"),
    "an empty messageId": (report(""), "'messageId' is missing"),
    "no status": ('{"messageId": "{id}"}', "'status' must be an object"),
}


@pytest.mark.parametrize("case", BAD_REPORTS)
def test_a_bad_report_beside_a_good_one_is_quarantined_and_the_good_one_applied(corpus, case):
    """Hostile input at the webhooks: a bad item is quarantined with its reason, the rest
    of the callback is stored and answered 200."""
    message_id = corpus.send()
    bad, reason = BAD_REPORTS[case]
    bad = bad.replace("{id}", f"bad-{next(_numbers)}")
    before = len(corpus.quarantined())

    answer = corpus.post("delivery-reports", f'{{"results": [{bad}, {report(message_id)}]}}')

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 1}
    assert corpus.status(message_id) == "delivered"
    (kept,) = corpus.quarantined()[before:]
    assert kept["source"] == "infobip.delivery-report"
    assert kept["reason"].startswith("results[0]: ") and reason in kept["reason"], kept
    json.dumps(kept, ensure_ascii=False).encode("utf-8")  # kept as text any answer can carry


# rule -> (the fields of a bad inbound SMS after its id, the reason)
BAD_INBOUND = {
    "NUL in a key": (', "text": "hi", "\\u0000": 1', "a key with a NUL character"),
    "lone surrogate as raw bytes": (', "text": "hi \udc00"', "text holds a lone surrogate"),
    "a text of 16,385 characters": (', "text": "' + "t" * 16_385 + '"',
                                    "text holds a string of 16385 characters (at most 16384)"),
    "NaN in a price": (', "text": "hi", "price": {"pricePerMessage": NaN}',
                       "price.pricePerMessage holds a number that is not finite (nan)"),
    "an integer of 100,000 digits": (', "text": "hi", "smsCount": ' + "7" * 100_000,
                                     "smsCount holds an integer of 100000 digits"),
    "text a number": (', "text": 5', "'text' must be a string"),
    "receivedAt not a time": (', "text": "hi", "receivedAt": "never"',
                              "timestamp 'never' is not in Infobip's format"),
    "smsCount not a number": (', "text": "hi", "smsCount": "two"',
                              "'smsCount' must be a positive whole number"),
    # A part count the reports refuse (messageCount) was taken here, and a count of -1
    # went out in the platform's reply event as number_of_message_parts.
    "smsCount -1": (', "text": "hi", "smsCount": -1', "'smsCount' must be a positive whole number"),
    "smsCount 1.5": (', "text": "hi", "smsCount": 1.5', "'smsCount' must be a positive whole number"),
    "smsCount true": (', "text": "hi", "smsCount": true',
                      "'smsCount' must be a positive whole number"),
}
BAD_INBOUND_SHAPES = {
    "from an object": (inbound("{id}", sender='{"number": 1}'), "'from' must be a string"),
    "no from": ('{"messageId": "{id}", "to": "385991234567", "text": "hi"}', "missing 'from'"),
    "no to": ('{"messageId": "{id}", "from": "385921230071", "text": "hi"}', "missing 'to'"),
    "no messageId": ('{"from": "385921230071", "to": "385991234567"}', "missing 'messageId'"),
    "an item that is a number": ("42", "a result must be an object"),
}


@pytest.mark.parametrize("case", [*BAD_INBOUND, *BAD_INBOUND_SHAPES])
def test_a_bad_inbound_sms_beside_a_good_one_is_quarantined_and_the_good_one_kept(corpus, case):
    """Hostile input at the webhooks: a bad inbound SMS is quarantined with its reason,
    the good one beside it is stored (sent again, it is a duplicate); 200."""
    number = next(_numbers)
    if case in BAD_INBOUND:
        fields, reason = BAD_INBOUND[case]
        bad = inbound(f"bad-in-{number}", fields)
    else:
        template, reason = BAD_INBOUND_SHAPES[case]
        bad = template.replace("{id}", f"bad-in-{number}")
    good = inbound(f"good-in-{number}")
    before = len(corpus.quarantined())

    answer = corpus.post("inbound", f'{{"results": [{good}, {bad}]}}')

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "duplicates": 0, "quarantined": 1}
    (kept,) = corpus.quarantined()[before:]
    assert kept["source"] == "infobip.inbound"
    assert kept["reason"].startswith("results[1]: ") and reason in kept["reason"], kept
    again = corpus.post("inbound", f'{{"results": [{good}]}}')
    assert again.json() == {"received": 0, "duplicates": 1, "quarantined": 0}


# --- exactly at a limit: stored ------------------------------------------------------------

AT_THE_LIMIT = {
    "nesting of 16 levels": ', "extra": ' + deep(15),
    "a string of 16,384 characters": ', "callbackData": "' + "c" * 16_384 + '"',
    "a key of 256 characters": ', "' + "k" * 256 + '": 1',
    "numbers of 64 bits": ', "extra": [9223372036854775807, -9223372036854775808, 9.2e18]',
    "text in every script, emoji included": ', "callbackData": "Ž中\\ud83d\\ude00 😀"',
}


@pytest.mark.parametrize("case", AT_THE_LIMIT)
def test_a_report_exactly_at_a_limit_is_applied(corpus, case):
    """The limits are where the README puts them: a value at the limit is stored."""
    message_id = corpus.send()
    before = len(corpus.quarantined())
    answer = corpus.post("delivery-reports",
                         f'{{"results": [{report(message_id, AT_THE_LIMIT[case])}]}}')
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 0}
    assert corpus.status(message_id) == "delivered"
    assert len(corpus.quarantined()) == before


# --- bodies refused whole: nothing of them is stored -------------------------------------

def ten_megabytes(good: str) -> str:
    return f'{{"results": [{good}], "padding": "{"x" * (10 * 1024 * 1024)}"}}'


# rule -> (the body around a good report "{good}", the answer, its code, in its message)
REFUSED_BODIES = {
    "nesting 10^5 deep (objects)": (
        '{"results": [{good}, {"extra": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}]}",
        400, "invalid_callback", "nested too deeply"),
    "a raw NUL byte in a string": ('{"results": [{good}], "note": "a\x00b"}',
                                   400, "invalid_callback", "body is not JSON"),
    "a raw control character in a string": ('{"results": [{good}], "note": "a\x07b"}',
                                            400, "invalid_callback", "body is not JSON"),
    "a second results that is no list": ('{"results": [{good}], "results": {}}',
                                         400, "invalid_callback", "'results' list"),
    "a 10 MB body": (ten_megabytes("{good}"), 413, "payload_too_large",
                     f"larger than {MAX_BODY} bytes"),
}


@pytest.mark.parametrize("case", REFUSED_BODIES)
def test_a_body_refused_whole_stores_nothing_of_it(corpus, case):
    """Only a body that cannot be read at all is refused (400, with the reason); a body
    over max_body_bytes is 413. Nothing of either is stored, the good report inside it
    included (Infobip's copy stays for the maintenance round to ask for)."""
    message_id = corpus.send()
    template, status, code, message = REFUSED_BODIES[case]
    before = len(corpus.quarantined())

    answer = corpus.post("delivery-reports", template.replace("{good}", report(message_id)))

    assert answer.status_code == status, answer.text[:500]
    assert answer.json()["error"]["code"] == code
    assert message in answer.json()["error"]["message"], answer.json()
    assert corpus.status(message_id) == "enqueued"
    assert len(corpus.quarantined()) == before


def test_a_10_mb_body_sent_chunked_is_refused_with_413(corpus):
    """max_body_bytes holds without a Content-Length too: the body is not read past it."""
    message_id = corpus.send()
    body = ten_megabytes(report(message_id)).encode()
    pieces = (body[i:i + 65_536] for i in range(0, len(body), 65_536))
    answer = corpus.post("delivery-reports", pieces)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["details"] == {"max_body_bytes": MAX_BODY}
    assert corpus.status(message_id) == "enqueued"


def test_a_body_with_a_byte_order_mark_is_read(corpus):
    """A body that can be read is read: a UTF-8 byte order mark is no reason to lose it."""
    message_id = corpus.send()
    body = b"\xef\xbb\xbf" + f'{{"results": [{report(message_id)}]}}'.encode()
    answer = corpus.post("delivery-reports", body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 0}
    assert corpus.status(message_id) == "delivered"


# --- credentials come before the body ----------------------------------------------------

@pytest.mark.parametrize("kind", ["delivery-reports", "inbound"])
@pytest.mark.parametrize("body", ["good", "nested 10^5 deep", "not UTF-8"])
def test_another_projects_webhook_secret_is_401_whatever_the_body(corpus, kind, body):
    """Webhooks take the integration's own secret: globex's secret at acme's webhook is
    401 and stores nothing, whatever the body (it is not read before the credentials:
    an unreadable one is 401, not 400)."""
    message_id = corpus.send()
    good = report(message_id) if kind == "delivery-reports" else inbound(
        f"other-secret-{next(_numbers)}")
    content = {"good": f'{{"results": [{good}]}}'.encode(),
               "nested 10^5 deep": b"[" * 100_000,
               "not UTF-8": b'{"results": [\xff\xfe]}'}[body]
    before = len(corpus.quarantined())

    answer = corpus.post(kind, content, secret=corpus.globex_secret)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    assert corpus.status(message_id) == "enqueued"
    assert len(corpus.quarantined()) == before
    if body == "good" and kind == "inbound":  # not stored: acme's own secret stores it now
        stored = corpus.post(kind, content)
        assert stored.json() == {"received": 1, "duplicates": 0, "quarantined": 0}


# --- ids we do not know: parked, 200, applied once the message appears -------------------

def test_a_report_for_an_unknown_id_is_parked_and_applied_when_the_message_appears(corpus):
    """Reports for unknown ids are parked, not dropped: answered 200, and applied by the
    maintenance round once a message of that id is sent."""
    message_id = f"not-yet-{uuid.uuid4().hex}"
    answer = corpus.post("delivery-reports", f'{{"results": [{report(message_id)}]}}')
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 0, "noted": 0, "parked": 1, "quarantined": 0}

    assert corpus.send(message_id=message_id) == message_id
    assert corpus.status(message_id) == "enqueued"
    assert corpus.channel.run_maintenance()["parked_reports_released"] == 1
    assert corpus.status(message_id) == "delivered"


def test_a_report_naming_another_projects_message_is_parked_not_applied_to_it(corpus):
    """A project's webhook reaches its own messages only: globex's message id reported at
    acme's webhook is parked in acme (200) and globex's message does not change."""
    theirs = corpus.send(corpus.globex, "globex")
    answer = corpus.post("delivery-reports", f'{{"results": [{report(theirs)}]}}')
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 0, "noted": 0, "parked": 1, "quarantined": 0}
    corpus.channel.run_maintenance()
    assert corpus.status(theirs, corpus.globex, "globex") == "enqueued"
