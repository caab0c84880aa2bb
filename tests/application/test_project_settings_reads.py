"""ProjectDirectory.find keeps the settings it rebuilt and reads only newer events: each
process sees every change made by any other, and a reader's object never changes under
it."""

import pytest

from smsledger.adapters.bootstrap import build_projects
from smsledger.adapters.runtime.config import load_settings


@pytest.fixture
def directories(durable_store_url):
    """Two directories on one store, as two service processes would have."""
    settings = load_settings(database_url=durable_store_url,
                             secret_key="test-secret-key-0123456789")
    made = [build_projects(settings), build_projects(settings)]
    yield made
    for directory in made:
        directory.close()


def test_a_change_made_elsewhere_is_seen_and_a_read_object_stays_as_it_was(directories):
    here, elsewhere = directories
    admin = here.create_project("acme")
    before = here.find("acme")
    assert here.find("acme") is before  # nothing new: the kept object
    member = elsewhere.issue_token("acme", "member")
    after = here.find("acme")
    assert after is not before and after.version == before.version + 1
    assert here.authenticate(member).role == "member"
    assert before.role_of(member.split(".")[1], member.split(".")[2]) is None  # unchanged
    assert here.authenticate(admin).role == "admin"


def test_changes_start_from_the_latest_settings_and_leave_the_kept_ones_alone(directories):
    here, elsewhere = directories
    here.create_project("acme")
    kept = here.find("acme")
    elsewhere.rename_campaign_event("acme", "sms_status", changed_by="admin")
    here.configure_keyword("acme", "JOIN", action="grant", changed_by="admin")
    latest = here.find("acme")
    assert latest.campaign_event_name == "sms_status" and "JOIN" in latest.keywords
    assert "JOIN" not in kept.keywords and not kept.campaign_event_renamed


def test_an_unknown_project_is_not_found_and_then_found_once_created(directories):
    here, elsewhere = directories
    assert here.find("acme") is None
    elsewhere.create_project("acme")
    assert here.find("acme").project_id == "acme"
