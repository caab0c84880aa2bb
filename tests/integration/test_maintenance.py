"""The service's periodic round: windows closed, double opt-ins expired, lost
answers reconciled."""

from datetime import timedelta

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.infobip.accounts import StaticAccounts
from smsledger.adapters.runtime.system import ManualClock
from smsledger.application.commands import SendRequest
from support.times import T0
from support.providers import ScriptedProvider


def test_a_round_closes_windows_and_expires_double_opt_ins(tmp_path):
    clock = ManualClock(T0)
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/m.db", secret_key="m-0123456789abcdef")
    with bootstrap(StaticAccounts({}), settings, clock=clock,
                   provider=ScriptedProvider()) as channel:
        channel.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
        channel.request_double_opt_in("acme", "+385921234568", "sms_news", customer_id="c2")
        clock.advance(timedelta(days=5))
        assert channel.run_maintenance() == {
            "consent_requests_expired": 1, "parked_reports_released": 0, "windows_closed": 2,
            "sent": 0, "settled": 0, "noted": 0, "resent": 0, "gave_up": 0,
            "failed_integrations": []}
        assert channel.consent("acme", "+385921234568", "sms_news").status == "expired"
        assert channel.run_maintenance()["windows_closed"] == 0
