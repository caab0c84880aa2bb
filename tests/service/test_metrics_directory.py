"""Metrics directories left by a `serve` killed outright are removed by the next one,
and only those: never one that a running `serve` holds, whatever its name says, nor
anything else in the folder."""

import os
import subprocess
import sys

from smsledger.adapters.http.metrics_directory import PREFIX, MetricsDirectory, remove_abandoned

HOLD = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_only_the_directories_no_process_holds_are_removed(tmp_path):
    # Named after a process that runs (this one), but held by none: a serve killed
    # outright in another container, or one whose process id was given out again.
    abandoned = tmp_path / f"{PREFIX}{os.getpid()}-abc_123"
    abandoned.mkdir()
    (abandoned / "counter_1.db").write_bytes(b"x" * 100)
    held_by_another = tmp_path / f"{PREFIX}99999999-def456"
    held_by_another.mkdir()
    older = tmp_path / f"{PREFIX}k2j4h5"  # an older version's name: not ours to judge
    older.mkdir()
    a_file = tmp_path / f"{PREFIX}12-ghi789"
    a_file.write_text("not a directory")
    a_link = tmp_path / f"{PREFIX}13-jkl012"
    a_link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(held_by_another)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert remove_abandoned(str(tmp_path)) == [str(abandoned)]
    finally:
        holder.communicate("")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (held_by_another, older, a_file, a_link, unrelated,
                               tmp_path / "elsewhere"))
    # Its holder gone, the next start removes it.
    assert remove_abandoned(str(tmp_path)) == [str(held_by_another)]


def test_a_serves_own_directory_is_held_until_it_removes_it(tmp_path):
    directory = MetricsDirectory(str(tmp_path))
    assert os.path.basename(directory.path).startswith(f"{PREFIX}{os.getpid()}-")
    assert os.listdir(directory.path) == []
    # Another serve starting meanwhile leaves it alone, and makes its own.
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from smsledger.adapters.http.metrics_directory "
                               "import MetricsDirectory; print(MetricsDirectory(sys.argv[1]).path)",
         str(tmp_path)], capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.isdir(directory.path) and os.path.isdir(other)
    assert os.path.basename(other) != os.path.basename(directory.path)
    directory.remove()
    directory.remove()
    # That other serve exited without removing its own: the next start does.
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(other)]
    assert MetricsDirectory(str(tmp_path)).path not in (other, directory.path)
    assert not os.path.exists(other)


def test_a_folder_it_cannot_read_is_no_reason_not_to_start(tmp_path):
    assert remove_abandoned(str(tmp_path / "missing")) == []
