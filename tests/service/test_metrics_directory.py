"""Metrics directories left by a `serve` killed outright are removed by the next one,
and only those: never one whose `serve` may still run, nor anything else."""

import os
import subprocess
import sys

from smsledger.adapters.http.metrics_directory import (
    PREFIX,
    fresh_metrics_directory,
    remove_abandoned,
)


def _ended_pid():
    """The id of a process that has exited (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_the_directories_of_serves_that_no_longer_run_are_removed(tmp_path):
    dead = tmp_path / f"{PREFIX}{_ended_pid()}-abc_123"
    dead.mkdir()
    (dead / "counter_1.db").write_bytes(b"x" * 100)
    live = tmp_path / f"{PREFIX}{os.getpid()}-def456"  # this process runs
    live.mkdir()
    older = tmp_path / f"{PREFIX}k2j4h5"  # an older version's name: whose, it cannot tell
    older.mkdir()
    a_file = tmp_path / f"{PREFIX}{_ended_pid()}-ghi789"
    a_file.write_text("not a directory")
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()

    assert remove_abandoned(str(tmp_path)) == [str(dead)]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (live, older, a_file, unrelated))


def test_a_fresh_directory_is_named_after_this_process_and_clears_the_abandoned(tmp_path):
    abandoned = tmp_path / f"{PREFIX}{_ended_pid()}-xyz"
    abandoned.mkdir()
    made = fresh_metrics_directory(str(tmp_path))
    assert os.path.basename(made).startswith(f"{PREFIX}{os.getpid()}-")
    assert os.listdir(made) == []
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(made)]
    # The next start leaves this one alone: its serve (this process) still runs.
    again = fresh_metrics_directory(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(made),
                                                  os.path.basename(again)])
