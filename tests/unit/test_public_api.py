"""`import smsledger`: every name it offers is there, and its errors form one tree."""

import pytest
from eventsourcing.persistence import OperationalError

import smsledger
from smsledger.adapters.cli import main
from support.wiring import ledger_of


def test_every_public_name_is_there():
    assert sorted(n for n in smsledger.__all__ if not hasattr(smsledger, n)) == []


def test_the_errors_form_one_tree_of_a_few_kinds():
    kinds = (smsledger.NotFound, smsledger.Conflict, smsledger.InvalidInput,
             smsledger.StoreUnavailable)
    assert all(issubclass(kind, smsledger.SmsledgerError) for kind in kinds)
    cases = {smsledger.MessageNotFound: smsledger.NotFound,
             smsledger.ProjectNotFound: smsledger.NotFound,
             smsledger.ProjectExists: smsledger.Conflict,
             smsledger.Refused: smsledger.Conflict,
             smsledger.DomainError: smsledger.InvalidInput,
             smsledger.InvalidSendRequest: smsledger.InvalidInput,
             smsledger.InvalidCallback: smsledger.InvalidInput,
             smsledger.ConfigurationError: smsledger.InvalidInput,
             smsledger.ConcurrencyConflict: smsledger.StoreUnavailable}
    assert {case: next(k for k in kinds if issubclass(case, k)) for case in cases} == cases
    refused = smsledger.Refused("no consent", code="consent_missing", details={"to": "+385"})
    assert (refused.code, refused.details, str(refused)) == (
        "consent_missing", {"to": "+385"}, "no consent")


def test_a_store_that_fails_under_the_channel_is_store_unavailable(monkeypatch):
    settings = smsledger.load_settings(database_url="memory://")
    with smsledger.bootstrap(smsledger.StaticAccounts({}), settings) as channel:
        def gone(*_):
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(ledger_of(channel).recorder, "select_event_rows", gone)
        with pytest.raises(smsledger.StoreUnavailable, match="server closed") as raised:
            channel.message("acme", "m-1")
        assert isinstance(raised.value.__cause__, OperationalError)


def test_a_store_that_cannot_be_opened_is_store_unavailable_without_its_password():
    settings = smsledger.load_settings(
        database_url="postgresql://someone:hunter2@127.0.0.1:1/nowhere")
    with pytest.raises(smsledger.StoreUnavailable) as raised:
        smsledger.bootstrap(smsledger.StaticAccounts({}), settings)
    assert "hunter2" not in str(raised.value) and "someone:***@127.0.0.1:1" in str(raised.value)


def test_the_command_line_maps_each_kind_to_its_exit_status(tmp_path, capsys):
    store = ["--database-url", f"sqlite:///{tmp_path}/store.db"]
    assert main(["projects", "create", "acme", *store]) == 0
    assert main(["projects", "create", "acme", *store]) == 1  # a conflict
    assert "exists already" in capsys.readouterr().err
    assert main(["tokens", "create", "--project", "nope", "--role", "member", *store]) == 1
    assert "no project 'nope'" in capsys.readouterr().err  # not found
    assert main(["projects", "create", "Not Valid", *store]) == 2  # invalid input
