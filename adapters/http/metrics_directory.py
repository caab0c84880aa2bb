"""The directory where the processes of one `serve` count their metrics together
(prometheus-client's multiprocess mode wants a fresh one, or old files count again).

`serve` removes its directory when it stops, but a `serve` killed outright (SIGKILL,
the OOM killer) cannot, and its files would stay in the temporary folder for good,
one directory per killed start. So each directory is named after the `serve` that
made it, and a starting `serve` removes the directories whose `serve` no longer runs.
One whose process id another process has taken since is left for a later start: a
directory whose `serve` may still run is never removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile

log = logging.getLogger("smsledger.serve")

PREFIX = "smsledger-metrics-"
_NAME = re.compile(rf"{PREFIX}(\d+)-\w+")  # as fresh_metrics_directory names them


def fresh_metrics_directory(folder: str | None = None) -> str:
    """A new directory for this process's `serve`, in `folder` (default: the
    temporary folder), once those left there by killed ones are removed."""
    folder = folder or tempfile.gettempdir()
    remove_abandoned(folder)
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder)


def remove_abandoned(folder: str) -> list[str]:
    """Removes this user's metrics directories in `folder` whose `serve` no longer
    runs; returns their paths."""
    removed = []
    for entry in os.scandir(folder):
        named = _NAME.fullmatch(entry.name)
        if named is None or not entry.is_dir(follow_symlinks=False) or _running(
                int(named.group(1))) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    if removed:
        log.info("removed the metrics directories of services killed before they could",
                 extra={"fields": {"directories": removed}})
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
