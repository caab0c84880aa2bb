"""`smsledger worker` in a process of its own, as an operator runs it, and what the
store says about who holds each job: for tests that kill workers and watch the
standby take over."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
from pathlib import Path

from support.postgres import connect
from support.serve_process import CLI
from support.waiting import wait_for


class Worker:
    """`smsledger worker --interval 1` and `options`; its JSON log lines go to
    `<name>.log` in `folder`."""

    def __init__(self, folder: Path, env: dict[str, str], name: str,
                 options: tuple[str, ...] = ()) -> None:
        self.folder, self.env, self.name, self.options = folder, env, name, options
        self.log = folder / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*CLI, "worker", "--interval", "1", *self.options],
                                            env=self.env,
                                            cwd=self.folder, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_for(lambda: self._running() and self.said("worker started"), timeout=60,
                 what=f"{self.name} to start")
        return self

    def _running(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            f"{self.name} exited: {self.log.read_text()}")
        return True

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if line.startswith("{")]

    def said(self, message: str) -> bool:
        return any(line["message"] == message for line in self.lines())

    def holds(self, job: str) -> bool:
        """What its log says: it took the job and has not lost or released it since."""
        state = False
        for line in self.lines():
            if line.get("job") == job:
                state = line["message"] == f"took job {job}"
        return state

    def rounds(self) -> list[dict]:
        """The maintenance rounds it logged."""
        return [line for line in self.lines() if line["message"] == "maintenance"]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM, as a supervisor stops it; its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def postgres_job_holders(schema: str, job: str) -> list[str]:
    """The application names of the sessions holding the job's advisory lock in the
    schema (adapters/runtime/job_locks.py: `smsledger job <job> <host> pid <pid>`)."""
    return [name for _, name in postgres_job_sessions(schema, job)]


def postgres_job_sessions(schema: str, job: str) -> list[tuple[int, str]]:
    """(server process id, application name) of each session holding the job's advisory
    lock in the schema. An advisory lock on one bigint key shows in pg_locks as its high
    and low halves."""
    with connect() as conn:
        return conn.execute(
            "SELECT a.pid, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint",
            (f"{schema}.job.{job}",)).fetchall()


def sqlite_job_is_held(database: Path, job: str) -> bool:
    """Whether a process holds the job's lock file beside the SQLite database (trying it,
    and letting go at once)."""
    path = Path(f"{database}.{job}.lock")
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def holder_pid(application_name: str) -> int:
    return int(application_name.rsplit(" pid ", 1)[1])
