"""An embedding platform's typo: a send for a project (or integration) its account
directory does not know is an error, and nothing is stored for it."""

import pytest

import smsledger
from smsledger.application.errors import InvalidSendRequest
from support.wiring import ledger_of


def test_a_send_for_a_project_with_no_account_is_refused_before_storing(tmp_path):
    accounts = smsledger.StaticAccounts({("acme", "infobip"): smsledger.InfobipAccount(
        base_url="https://xyz.api.infobip.com", api_key="k" * 32)})
    settings = smsledger.load_settings(database_url=f"sqlite:///{tmp_path}/typo.db",
                                       secret_key="typo-0123456789abcdef")
    with smsledger.bootstrap(accounts, settings) as channel:
        before = ledger_of(channel).recorder.max_notification_id()
        with pytest.raises(InvalidSendRequest, match="no provider account for integration "
                                                     "'infobip' of project 'nope'"):
            channel.send("nope", [smsledger.SendRequest(
                customer_id="c", to="+385921234567", text="Hi", integration_id="infobip")])
        results = channel.send("nope", [smsledger.SendRequest(
            customer_id="c", to="+385921234567", text="Hi", integration_id="infobip")],
            report_invalid=True)
        assert [(r.status, r.error) for r in results] == [("invalid", "invalid_message")]
        assert ledger_of(channel).recorder.max_notification_id() == before
