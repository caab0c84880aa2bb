"""A PostgreSQL cluster of a test's own, which the test may stop and start again.

The machine's shared server (support.postgres, port 5432) must never be stopped:
other tests use it at the same time. Tests of outages get a throwaway cluster
instead: `initdb` into a temporary directory, on a free loopback port, with its
socket in that directory, trust authentication, no fsync (nothing here needs to
survive a power cut; a commit answered must survive a stop, though). `stop()` is an
immediate shutdown, as a crash or a killed server would be; `start()` brings the
same data back on the same port.

    from support.own_postgres import own_postgres  # noqa: F401  (the fixture)

    def test_x(own_postgres):
        url = own_postgres.url
        own_postgres.stop(); ...; own_postgres.start()

When running as root, the server runs as the `postgres` user (PostgreSQL refuses
root); otherwise as the current user. Without the PostgreSQL server binaries the
tests that need them are skipped (they fail in CI, as support.postgres's do).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_USER = "postgres"


def _server_binaries() -> Path | None:
    """The directory of initdb and pg_ctl, newest version first."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name), reverse=True)
    found = candidates[0] if candidates else shutil.which("initdb")
    return Path(found).parent if found else None


def _can_run_server() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnPostgres:
    """One throwaway cluster: created and started by `create()`, removed by `remove()`."""

    def __init__(self, binaries: Path) -> None:
        self._binaries = binaries
        self.directory = Path(tempfile.mkdtemp(prefix="smsledger-own-pg-"))
        self.data = self.directory / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False

    def create(self) -> OwnPostgres:
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        self.start()
        return self

    def start(self) -> None:
        # fsync off: an immediate stop kills the server, not the machine, so what it
        # wrote is still in the OS's cache. synchronous_commit stays on: off, a commit
        # is answered before its WAL is written, and a stop loses what was answered.
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "server.log"))
        self.running = True

    def stop(self) -> None:
        """An immediate shutdown: the server's processes end at once, every open
        connection is cut, as when the server crashes."""
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        self.running = False

    def remove(self) -> None:
        if self.running:
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.directory, check=False)
        if done.returncode != 0:
            log = self.directory / "server.log"
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}"
                               f"{log.read_text() if log.exists() else ''}")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A running cluster of the test's own, removed after the test."""
    binaries = _server_binaries()
    missing = ("the PostgreSQL server binaries (initdb, pg_ctl)" if binaries is None
               else f"the {SERVER_USER!r} user to run the server as" if not _can_run_server()
               else None)
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing} must be installed in CI")
        pytest.skip(f"{missing} is not installed")
    assert binaries is not None
    cluster = OwnPostgres(binaries)
    try:
        yield cluster.create()
    finally:
        cluster.remove()
