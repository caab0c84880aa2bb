"""The Infobip adapter connects only where the rule allows, checked at every connection
(names that resolve to private addresses, DNS rebinding), and tells the caller no
network detail: a refused connection and a dropped one give the same generic reason,
the detail goes to the log."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from smsledger.adapters.infobip.accounts import InfobipAccount, StaticAccounts
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider, RetryPolicy
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.application.ports import OutgoingMessage, SendRefused, Unknown
from smsledger.domain.content import SmsContent

API_KEY = "connections-test-key"
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)


class Listener:
    """A TCP port on loopback that counts the connections it accepts, and closes
    each at once (what a server that drops the connection looks like)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.close()


def send_once(base_url: str, addresses: ProviderAddresses | None = None):
    accounts = StaticAccounts({("acme", "infobip"): InfobipAccount(base_url, API_KEY)})
    with InfobipProvider(accounts, retry=FAST, addresses=addresses) as provider:
        (outcome,) = provider.send([OutgoingMessage(
            project_id="acme", integration_id="infobip", message_id="m-1",
            to="+385921230000", sender="Acme", content=SmsContent("Hi"))])
    return outcome


def resolving_to(*answers: str):
    """A resolver (socket.getaddrinfo's shape) giving each answer in turn, the last
    one from then on: a DNS server an attacker controls."""
    calls = []

    def resolve(host, port, *args, **kwargs):
        address = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
    return resolve


def test_a_name_that_resolves_to_loopback_when_used_is_not_connected_to(listener):
    # Public when the integration was saved, loopback when the message is sent.
    addresses = ProviderAddresses(resolve=resolving_to("93.184.216.34", "127.0.0.1"))
    assert addresses.refusal(f"https://infobip.rebinding.test:{listener.port}") is None
    outcome = send_once(f"https://infobip.rebinding.test:{listener.port}", addresses)
    assert isinstance(outcome, SendRefused), outcome
    assert (outcome.status_code, outcome.error) == (403, "PROVIDER_ADDRESS_REFUSED")
    assert "SMSLEDGER_ALLOW_PRIVATE_NETWORKS=true" in outcome.comment
    assert listener.accepted == 0


def test_a_name_with_one_private_address_among_public_ones_is_not_connected_to(listener):
    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in ("93.184.216.34", "169.254.169.254")]
    addresses = ProviderAddresses(resolve=resolve)
    assert "resolves to a non-public address" in addresses.refusal("https://mixed.test")
    outcome = send_once(f"https://mixed.test:{listener.port}", addresses)
    assert isinstance(outcome, SendRefused) and outcome.error == "PROVIDER_ADDRESS_REFUSED"


def test_by_default_the_adapter_does_not_reach_a_server_on_loopback():
    config = SimulatorConfig(api_key=API_KEY, report_delay=0.05)
    with InfobipSimulator(config) as simulator:
        for base_url in (simulator.base_url,
                         simulator.base_url.replace("127.0.0.1", "2130706433")):
            outcome = send_once(base_url)
            assert isinstance(outcome, SendRefused), (base_url, outcome)
            assert outcome.error == "PROVIDER_ADDRESS_REFUSED"
        assert simulator.requests == []
        # Allowed by the operator, the same adapter reaches it.
        allowed = send_once(simulator.base_url, ProviderAddresses(allow_private_networks=True))
        assert not isinstance(allowed, (SendRefused, Unknown)), allowed
        assert len(simulator.requests) == 1


def test_a_refused_and_a_dropped_connection_give_the_caller_the_same_generic_reason(
        listener, caplog):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]  # nothing listens there once closed
    allowed = ProviderAddresses(allow_private_networks=True)
    with caplog.at_level(logging.WARNING, logger="smsledger.infobip.provider"):
        refused = send_once(f"http://127.0.0.1:{closed_port}", allowed)
        dropped = send_once(f"http://127.0.0.1:{listener.port}", allowed)
    assert isinstance(refused, Unknown) and isinstance(dropped, Unknown)
    assert listener.accepted >= 1  # the second one did connect, and was dropped
    assert refused.reason == dropped.reason
    assert refused.reason.startswith("provider unreachable")
    for word in ("refused", "disconnect", "Errno", "127.0.0.1", str(closed_port)):
        assert word not in refused.reason
    # The operator still learns what happened, from the log.
    problems = [r.fields["problem"] for r in caplog.records if hasattr(r, "fields")]
    assert any("connect" in p.lower() for p in problems) and len(problems) == 2
