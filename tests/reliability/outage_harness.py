"""What the database-outage tests drive: `smsledger serve` in a process of its own,
and "Infobip": several senders posting delivery reports and retrying as Infobip does.

Every attempt a sender makes is recorded (when it started and ended, by
time.monotonic, and what came back), so a test can judge each answer against what
the database was doing at that moment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.waiting import wait_for

CLI = [sys.executable, "-m", "smsledger.adapters.cli"]
HANG = 60.0  # a request still unanswered then is a hang: stop waiting, record it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """`smsledger serve` in its own process, as an operator runs it, with its log in
    `folder/serve.log` (shown when it fails to come up)."""

    def __init__(self, folder: Path, database_url: str, store_timeout: float) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SMSLEDGER_DATABASE_URL": database_url,
                    "SMSLEDGER_STORE_TIMEOUT_SECONDS": str(store_timeout),
                    "SMSLEDGER_SECRET_KEY": "outage-tests-0123456789abcdef",
                    "SMSLEDGER_PUBLIC_URL": self.url,
                    "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true"}
        self.log = folder / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def create_project(self, project_id: str) -> str:
        """The project's admin token, from the command line (there is no HTTP call
        that creates a project)."""
        done = subprocess.run([*CLI, "projects", "create", project_id], env=self.env,
                              cwd=self.folder, capture_output=True, text=True, check=True)
        return str(json.loads(done.stdout)["admin_token"])

    def start(self) -> ServeProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*CLI, "serve", "--port", str(self.port)],
                                            env=self.env, cwd=self.folder, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_for(self.healthy, timeout=60, what="the service to answer /readyz")
        return self

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            f"the service exited:\n{self.log.read_text()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Attempt:
    """One POST of a body: `status` is the HTTP status, or None when the request
    failed without an answer (`error` says how)."""
    sender: int
    body: int
    started: float
    ended: float
    status: int | None
    answer: dict[str, Any] | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class InfobipSenders:
    """Threads posting report bodies to one webhook as Infobip does: a body answered
    anything but 2xx, or not answered at all, is posted again after `retry_delay`,
    until it is answered 2xx; only then does that sender go on to its next body.

    `pace` spaces a sender's bodies out, so that the ingest lasts a few seconds and
    the database can fail in the middle of it (unpaced, the whole run takes a
    fraction of a second)."""
    url: str
    credentials: tuple[str, str]
    bodies: list[str]
    senders: int = 4
    pace: float = 0.05
    retry_delay: float = 0.2
    attempts: list[Attempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> InfobipSenders:
        self._threads = [threading.Thread(target=self._send, args=(n,), daemon=True)
                         for n in range(self.senders)]
        for thread in self._threads:
            thread.start()
        return self

    def acknowledged(self) -> int:
        """How many bodies were answered 2xx so far."""
        with self._lock:
            return sum(1 for a in self.attempts if a.status is not None and a.status < 300)

    def recorded(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def join(self, timeout: float) -> None:
        """Wait for every body to be acknowledged; fail (and stop the senders) if
        that takes over `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self.stop()
            raise AssertionError(f"the senders still had bodies unacknowledged after "
                                 f"{timeout} s: {self.acknowledged()} of {len(self.bodies)}")

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(HANG + 5)

    def __enter__(self) -> InfobipSenders:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _send(self, sender: int) -> None:
        with httpx.Client(auth=self.credentials, timeout=HANG,
                          headers={"Content-Type": "application/json"}) as client:
            for index in range(sender, len(self.bodies), self.senders):
                self._deliver(client, sender, index)
                if self._stopping.wait(self.pace):
                    return

    def _deliver(self, client: httpx.Client, sender: int, index: int) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                answer = client.post(self.url, content=self.bodies[index])
                attempt = Attempt(sender, index, started, time.monotonic(), answer.status_code,
                                  answer=_json_or_none(answer))
            except httpx.TransportError as error:
                attempt = Attempt(sender, index, started, time.monotonic(), None,
                                  error=f"{type(error).__name__}: {error}")
            with self._lock:
                self.attempts.append(attempt)
            if attempt.status is not None and 200 <= attempt.status < 300:
                return
            self._stopping.wait(self.retry_delay)


def _json_or_none(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def feed(client: httpx.Client, project_id: str) -> Iterator[dict[str, Any]]:
    """Every event of the project's campaign-event feed, page by page."""
    after = "0"
    while True:
        answer = client.get(f"/v1/projects/{project_id}/events",
                            params={"after": after, "limit": 1000})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        yield from page["events"]
        if not page["events"]:
            return
        after = page["next"]
