"""The service's secret key file (adapters/runtime/secrets.py): created once, whole, owner-only,
whoever asks first, and read back by everyone after."""

import stat
import threading

import pytest

from smsledger.adapters.runtime.secrets import SecretKey


def test_processes_starting_together_get_one_key(tmp_path):
    path = tmp_path / "smsledger.key"
    barrier = threading.Barrier(8)
    keys = []

    def start():
        barrier.wait()
        keys.append(SecretKey(None, path).bytes())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    assert path.read_bytes() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["smsledger.key"]  # no drafts left


def test_a_key_given_in_the_settings_is_used_and_no_file_is_made(tmp_path):
    path = tmp_path / "smsledger.key"
    assert SecretKey("given-key-0123456789", path).bytes() == b"given-key-0123456789"
    assert not path.exists()


def test_where_files_cannot_be_linked_the_key_is_created_in_place(tmp_path, monkeypatch):
    def no_links(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("smsledger.adapters.runtime.secrets.os.link", no_links)
    path = tmp_path / "smsledger.key"
    key = SecretKey(None, path).bytes()
    assert path.read_bytes() == key and len(key) >= 32
    assert SecretKey(None, path).bytes() == key
    assert [p.name for p in tmp_path.iterdir()] == ["smsledger.key"]


def test_an_empty_or_short_key_file_is_refused_by_name(tmp_path):
    path = tmp_path / "smsledger.key"
    path.write_bytes(b"short\n")
    with pytest.raises(ValueError, match="smsledger.key.*5 characters"):
        SecretKey(None, path).bytes()


def test_a_bad_key_file_stops_serve_and_the_worker_at_their_start_by_name(tmp_path):
    """Each refuses it before it starts anything, naming the file: not at the first
    request or job that needs the key."""
    from smsledger.adapters.http.serving import CannotServe, run_service
    from smsledger.adapters.runtime.config import load_settings
    from smsledger.adapters.runtime.secrets import key_file_problem
    from smsledger.adapters.runtime.worker import CannotWork, run_worker

    not_a_file = tmp_path / "key-folder"
    not_a_file.mkdir()
    assert str(not_a_file) in key_file_problem(None, not_a_file)
    assert key_file_problem("given-key-0123456789", not_a_file) is None
    fresh = tmp_path / "smsledger.key"
    assert key_file_problem(None, fresh) is None and fresh.exists()  # made once, now

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'store.db'}",
                             secret_key_file=str(not_a_file))
    with pytest.raises(CannotServe, match="key-folder"):
        run_service(settings, "127.0.0.1", 0)
    with pytest.raises(CannotWork, match="key-folder"):
        run_worker(settings, interval=60, public_url=None)
    assert not (tmp_path / "store.db").exists()  # nothing started
