"""`smsledger audit` and `smsledger replay` on a store filled through the application."""

import json
from datetime import timedelta

import pytest

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.cli import main
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.runtime.system import ManualClock
from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.projections import STATISTICS, campaign_key
from support.times import T0
from support.providers import ScriptedProvider
from support.statuses import outcome


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """A durable store holding one campaign: 3 messages sent at T0, one delivered at
    T0 + 1 hour, one failed at T0 + 2 hours."""
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path}/cli.db")
    clock = ManualClock(T0)
    ledger = build_ledger(load_settings(database_url=url), provider=ScriptedProvider(), clock=clock)
    ledger.projects.create_project("acme")
    sent = ledger.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi",
                                            campaign_id="spring") for i in range(3)])
    for hours, (result, status) in enumerate(zip(sent, ["DELIVERED_TO_HANDSET",
                                                        "UNDELIVERABLE_NOT_DELIVERED"]), start=1):
        clock.advance(timedelta(hours=1))
        ledger.record_reports("acme", [ProviderReport(result.message_id,
                                                      outcome(status, done_at=clock.now()))])
    ledger.close()
    return url


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_audit_prints_the_funnel_and_exits_zero_without_drift(store, capsys):
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--database-url", store)
    assert code == 0
    assert "delivered" in out.out and "DRIFT" not in out.out


def test_a_typo_in_project_or_campaign_is_an_error_not_a_zero_funnel(store, capsys):
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "sprign",
                    "--database-url", store)
    assert code == 1 and "no message was ever requested for campaign 'sprign'" in out.err
    assert out.out == ""
    code, out = run(capsys, "audit", "--project", "nope", "--campaign", "spring",
                    "--database-url", store)
    assert code == 1 and "no project 'nope'" in out.err


def test_audit_json_has_the_documented_keys(store, capsys):
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--json",
                    "--database-url", store)
    audit = json.loads(out.out)
    assert code == 0 and audit["drift"] == []
    assert (audit["requested"], audit["delivered"], audit["failed"], audit["pending"]) == (3, 1, 1, 1)
    assert audit["requested"] == audit["unresolved"] + audit["enqueue_failed"] + audit["enqueued"]


def test_as_of_gives_the_earlier_picture(store, capsys):
    earlier = (T0 + timedelta(hours=1, minutes=30)).isoformat()
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--json",
                    "--as-of", earlier, "--database-url", store)
    audit = json.loads(out.out)
    assert (audit["delivered"], audit["failed"], audit["pending"]) == (1, 0, 2)
    assert audit["as_of"] == earlier
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--json",
                    "--as-of", T0.isoformat(), "--database-url", store)
    assert json.loads(out.out)["pending"] == 3


def test_drift_is_reported_and_fails_the_command_with_its_own_status(store, capsys):
    # Damage the statistics projection behind the application's back.
    ledger = build_ledger(load_settings(database_url=store))
    ledger.statistics("acme", "spring")
    view = ledger.read_store.live_view(STATISTICS)
    with ledger.read_store.write(view, ledger.recorder.max_notification_id() + 1000) as writer:
        doc = writer.get("campaign", campaign_key("acme", "spring"))
        doc["counts"]["delivered"] += 5
        writer.put("campaign", campaign_key("acme", "spring"), doc)
    ledger.close()
    code, out = run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--database-url", store)
    assert code == 3  # not 1: the audit ran, and found the statistics wrong
    assert "DRIFT" in out.out and "delivered: replay 1, statistics 6" in out.out
    # Rebuilding the projection from zero repairs it.
    code, out = run(capsys, "replay", "statistics", "--database-url", store)
    assert code == 0 and "statistics: rebuilt from position 0" in out.out
    assert run(capsys, "audit", "--project", "acme", "--campaign", "spring", "--database-url", store)[0] == 0


def test_replay_rebuilds_every_projection_by_default(store, capsys):
    code, out = run(capsys, "replay", "--database-url", store)
    assert code == 0
    assert [line.split(":")[0] for line in out.out.splitlines()] == [
        "feed", "statistics", "history", "campaign_index"]


def test_replay_of_an_unknown_projection_names_the_choices(store, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["replay", "nope", "--database-url", store])
    assert exited.value.code == 2
    assert "choose from 'feed', 'statistics', 'history', 'campaign_index'" in capsys.readouterr().err


def test_a_bad_database_url_names_the_setting(capsys):
    code, out = run(capsys, "audit", "--project", "a", "--campaign", "c", "--database-url", "mysql://x/y")
    assert code == 2 and "database_url" in out.err


def test_a_bad_as_of_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--project", "a", "--campaign", "c", "--as-of", "yesterday"])
    assert exited.value.code == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err
