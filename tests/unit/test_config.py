import json

import pytest

from smsledger.adapters.runtime.config import ConfigurationError, load_settings
from smsledger.adapters.runtime.persistence import persistence_env


def test_defaults(monkeypatch):
    monkeypatch.delenv("SMSLEDGER_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./smsledger.db"
    assert settings.waiting_window_days == 4
    assert settings.campaign_event_names == {}
    # Recovery's waits and attempts, as the README's Configuration table gives them.
    assert (settings.send_unsent_after_seconds, settings.reconcile_after_seconds,
            settings.resend_after_seconds, settings.max_send_attempts) == (60, 900, 1800, 3)


def test_mapping_from_a_toml_file(tmp_path):
    path = tmp_path / "smsledger.toml"
    path.write_text('send_batch_size = 100\n[campaign_event_names]\nacme = "sms_campaign"\n')
    settings = load_settings(path)
    assert settings.campaign_event_names == {"acme": "sms_campaign"}
    assert settings.send_batch_size == 100


def test_mapping_from_a_json_file(tmp_path):
    path = tmp_path / "smsledger.json"
    path.write_text(json.dumps({"campaign_event_names": {"acme": "Delivered"}}))
    assert load_settings(path).campaign_event_names == {"acme": "Delivered"}


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    path = tmp_path / "smsledger.toml"
    path.write_text("send_batch_size = 100\n")
    monkeypatch.setenv("SMSLEDGER_SEND_BATCH_SIZE", "200")
    assert load_settings(path).send_batch_size == 200


@pytest.mark.parametrize(("content", "named"), [
    ("send_batch_size = 5000\n", "send_batch_size"),
    ("waiting_window_days = -1\n", "waiting_window_days"),
    ('[campaign_event_names]\nacme = ""\n', "campaign_event_names"),
    ("colour = 'blue'\n", "colour"),
])
def test_a_bad_value_names_the_setting(tmp_path, content, named):
    path = tmp_path / "smsledger.toml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=named):
        load_settings(path)


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("this is = = not toml")
    with pytest.raises(ConfigurationError, match="broken.toml"):
        load_settings(broken)


@pytest.mark.parametrize(("url", "module"), [
    ("memory://", "smsledger.adapters.store.memory:MemoryFactory"),
    ("sqlite:///./smsledger.db", "eventsourcing.sqlite"),
    ("postgresql://me:secret@127.0.0.1:5432/test",
     "smsledger.adapters.store.bounded_postgres:BoundedPostgresFactory"),
])
def test_database_urls(url, module):
    assert persistence_env(url)["PERSISTENCE_MODULE"] == module


def test_postgres_url_parts():
    env = persistence_env("postgresql://me:s%40cret@db.internal:6543/ledger")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_HOST"],
            env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("me", "s@cret", "db.internal", "6543", "ledger")


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "postgresql:///nodb"])
def test_bad_database_urls_name_the_setting(url):
    with pytest.raises(ConfigurationError, match="setting database_url: .*"):
        load_settings(database_url=url)
    with pytest.raises(ValueError):
        persistence_env(url)
