"""Where an admin may point an integration: https on a public address, unless the
operator allows private networks. Checked over HTTP when the integration is saved:
a clear 422 naming the rule, and nothing stored."""

from __future__ import annotations

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings

REFUSED = [
    "http://xyz.api.infobip.com",  # plain http
    "https://127.0.0.1:5432",  # PostgreSQL's port on loopback
    "https://169.254.169.254",  # the cloud metadata address
    "https://[::1]:8080",
    "https://localhost:8080",
    "https://app.localhost",
    "https://10.1.2.3",
    "https://192.168.0.10",
    "https://100.64.0.1",  # shared address space (carrier NAT)
    "https://0.0.0.0:8080",
    "https://[::ffff:127.0.0.1]",  # loopback, written as IPv6
    "https://[fe80::1]",
    "https://224.0.0.1",
    "https://2130706433",  # a name the resolver reads as 127.0.0.1
    "https://127.1:8080",  # ... and another
]


def served(tmp_path, **settings_given):
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/rule.db",
                             secret_key="url-rule-0123456789abcdef", **settings_given)
    server = BackgroundServer()
    channel = bootstrap(settings=settings, public_url=server.url)
    server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
    token = channel.projects.create_project("acme")
    return server, channel, httpx.Client(base_url=server.url,
                                         headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def admin(tmp_path):
    server, channel, client = served(tmp_path)
    yield client
    client.close()
    server.stop()
    channel.close()


def integration(base_url: str) -> dict:
    return {"base_url": base_url, "api_key": "k" * 32, "senders": ["AcmeShop"]}


@pytest.mark.parametrize("base_url", REFUSED)
def test_a_private_or_plain_http_base_url_is_refused_naming_the_rule(admin, base_url):
    before = admin.get("/v1/projects/acme/settings/history").json()
    answer = admin.put("/v1/projects/acme/integrations/infobip", json=integration(base_url))
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "https on a public address" in message
    assert "SMSLEDGER_ALLOW_PRIVATE_NETWORKS=true" in message
    assert admin.get("/v1/projects/acme/settings/history").json() == before


def test_a_public_https_base_url_is_accepted(admin):
    answer = admin.put("/v1/projects/acme/integrations/infobip",
                       json=integration("https://xyz.api.infobip.com"))
    assert answer.status_code == 200, answer.text


def test_the_operator_may_allow_private_networks(tmp_path):
    server, channel, admin = served(tmp_path, allow_private_networks=True)
    try:
        for base_url in ("http://127.0.0.1:8099", "https://10.1.2.3", "http://localhost:8099"):
            answer = admin.put("/v1/projects/acme/integrations/infobip", json=integration(base_url))
            assert answer.status_code == 200, (base_url, answer.text)
    finally:
        admin.close()
        server.stop()
        channel.close()


def test_the_setting_comes_from_the_environment(monkeypatch):
    assert load_settings(database_url="memory://").allow_private_networks is False
    monkeypatch.setenv("SMSLEDGER_ALLOW_PRIVATE_NETWORKS", "true")
    assert load_settings(database_url="memory://").allow_private_networks is True
