"""API keys sealed with the service's secret key: keys stored in plain text by an older
version still open, a key sealed under another secret key is refused in words that say
what to do, and PUTting the integration again (the rotation) seals it anew."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smsledger.adapters.bootstrap import build_projects
from smsledger.adapters.infobip.accounts import AccountUnusable
from smsledger.adapters.infobip.project_accounts import ProjectAccounts
from smsledger.adapters.infobip.provider import InfobipProvider
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.runtime.secrets import AesGcmSealer, SecretKey
from smsledger.application.ports import OutgoingMessage, SendRefused
from smsledger.domain.content import SmsContent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store_0_1_0"
PLAIN_KEY_OF_0_1_0 = "12mVVEIEWbHO-5JzJZYD-0MKysZFPqAF"  # in sqlite.db, as 0.1.0 stored it


def test_a_key_stored_in_plain_text_by_0_1_0_still_opens(tmp_path):
    shutil.copy(FIXTURES / "sqlite.db", tmp_path / "store.db")
    projects = build_projects(load_settings(database_url=f"sqlite:///{tmp_path}/store.db",
                                            secret_key="any-secret-key-0123456789"))
    try:
        integration = projects.settings("demo-274662").integrations["infobip"]
        assert integration.api_key_sealed is False
        assert projects.api_key("demo-274662", integration) == PLAIN_KEY_OF_0_1_0
        assert projects.masked_api_key("demo-274662", integration) == "****" + PLAIN_KEY_OF_0_1_0[-4:]
        account = ProjectAccounts(projects, "https://sms.example.com").account("demo-274662",
                                                                              "infobip")
        assert account is not None and account.api_key == PLAIN_KEY_OF_0_1_0
    finally:
        projects.close()


def test_after_the_secret_key_changes_the_integration_is_put_again(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    before = build_projects(load_settings(database_url=url, secret_key="first-key-0123456789abc",
                                          allow_private_networks=True))
    before.create_project("acme")
    before.configure_integration("acme", "infobip", base_url="https://xyz.api.infobip.com",
                                 api_key="the-infobip-key-0123", senders=["Acme"],
                                 default_sender="Acme", changed_by="test")
    before.close()

    after = build_projects(load_settings(database_url=url, secret_key="second-key-0123456789ab"))
    try:
        integration = after.settings("acme").integrations["infobip"]
        assert after.api_key("acme", integration) is None
        assert "PUT the integration again" in after.masked_api_key("acme", integration)
        accounts = ProjectAccounts(after, "https://sms.example.com")
        with pytest.raises(AccountUnusable, match="PUT the integration again"):
            accounts.account("acme", "infobip")
        with InfobipProvider(accounts) as provider:
            (outcome,) = provider.send([OutgoingMessage(
                project_id="acme", integration_id="infobip", message_id="m-1",
                to="+385921230000", sender="Acme", content=SmsContent("Hi"))])
        assert isinstance(outcome, SendRefused) and outcome.error == "API_KEY_UNREADABLE"

        after.configure_integration("acme", "infobip", base_url="https://xyz.api.infobip.com",
                                    api_key="the-infobip-key-0123", senders=["Acme"],
                                    default_sender="Acme", changed_by="test")
        integration = after.settings("acme").integrations["infobip"]
        assert after.api_key("acme", integration) == "the-infobip-key-0123"
    finally:
        after.close()


def test_a_sealed_key_opens_only_with_its_key_and_for_what_it_is_bound_to(tmp_path):
    sealer = AesGcmSealer(SecretKey("sealer-key-0123456789", tmp_path / "unused.key"))
    sealed = sealer.seal("the-infobip-key-0123", bound_to="acme/infobip")
    assert "the-infobip-key-0123" not in sealed and sealed.startswith("v1.")
    assert sealer.seal("the-infobip-key-0123", bound_to="acme/infobip") != sealed  # fresh nonce
    assert sealer.open(sealed, bound_to="acme/infobip") == "the-infobip-key-0123"
    assert sealer.open(sealed, bound_to="globex/infobip") is None  # copied elsewhere
    other = AesGcmSealer(SecretKey("another-key-0123456789", tmp_path / "unused.key"))
    assert other.open(sealed, bound_to="acme/infobip") is None
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert sealer.open(tampered, bound_to="acme/infobip") is None
    # Without SMSLEDGER_SECRET_KEY the key file is made on first use, and reused.
    from_file = AesGcmSealer(SecretKey(None, tmp_path / "smsledger.key"))
    sealed = from_file.seal("k" * 20, bound_to="b")
    assert (tmp_path / "smsledger.key").stat().st_mode & 0o077 == 0
    assert AesGcmSealer(SecretKey(None, tmp_path / "smsledger.key")).open(
        sealed, bound_to="b") == "k" * 20
