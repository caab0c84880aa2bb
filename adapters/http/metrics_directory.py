"""The directory where the processes of one `serve` count their metrics together
(prometheus-client's multiprocess mode wants a fresh one, or old files count again).

`serve` removes its directory when it stops, but a `serve` killed outright (SIGKILL,
the OOM killer) cannot, and its files would stay in the temporary folder for good,
one directory per killed start. So a starting `serve` removes the directories no
`serve` holds any more. Each `serve` holds a lock on its own directory (flock, which
the kernel releases when the process ends, however it ends) for as long as it runs;
a lock, unlike a process id, means the same thing in every container sharing the
folder and is never reused by another process. A directory is given its final name
only once locked, so no other `serve` ever sees it unlocked while it is in use.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile

log = logging.getLogger("smsledger.serve")

PREFIX = "smsledger-metrics-"
# `serve`'s process id (for the operator's eye: the lock is what counts), then a
# random part; a directory still being made has "new" in place of the number.
_NAME = re.compile(rf"{PREFIX}(\d+)-\w+")


class MetricsDirectory:
    """A new directory, locked by this process until `remove`."""

    def __init__(self, folder: str | None = None) -> None:
        folder = folder or tempfile.gettempdir()
        remove_abandoned(folder)
        making = tempfile.mkdtemp(prefix=f"{PREFIX}new-", dir=folder)
        self._lock = _locked(making)
        if self._lock is None:  # only a folder without flock would refuse a fresh one
            shutil.rmtree(making, ignore_errors=True)
            raise OSError(f"cannot lock the metrics directory {making}")
        self.path = os.path.join(folder, os.path.basename(making).replace(
            f"{PREFIX}new-", f"{PREFIX}{os.getpid()}-", 1))
        os.rename(making, self.path)

    def remove(self) -> None:
        """Remove the directory and give its lock up; a second call does nothing."""
        if self._lock is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)
        self._lock = None


def remove_abandoned(folder: str) -> list[str]:
    """Removes this user's metrics directories in `folder` that no process holds;
    returns their paths. Never fails: a directory it cannot read or remove is left."""
    removed = []
    try:
        with os.scandir(folder) as entries:
            candidates = [entry.path for entry in entries if _NAME.fullmatch(entry.name)]
    except OSError as error:
        log.warning("cannot look for abandoned metrics directories in %s: %s", folder, error)
        return []
    for path in candidates:
        try:
            if not os.path.isdir(path) or os.path.islink(path) or (
                    os.stat(path).st_uid != os.getuid()):
                continue
        except OSError:  # gone meanwhile (another serve removed it)
            continue
        lock = _locked(path)
        if lock is None:  # held: its serve runs
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(lock)
        if not os.path.exists(path):
            removed.append(path)
    if removed:
        log.info("removed the metrics directories of services killed before they could",
                 extra={"fields": {"directories": removed}})
    return removed


def _locked(path: str) -> int | None:
    """A descriptor of the directory at `path` holding its lock, or None when another
    process holds it (or it cannot be opened)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor
