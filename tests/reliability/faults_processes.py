"""smsledger as separate processes on one store: `smsledger serve` and
`smsledger maintenance`, each started by the test and ended by its own process id."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from support.waiting import wait_for

CLI = [sys.executable, "-m", "smsledger.adapters.cli"]
SECRET_KEY = "reliability-processes-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(store_url: str, public_url: str) -> dict[str, str]:
    return {**os.environ, "SMSLEDGER_DATABASE_URL": store_url, "SMSLEDGER_SECRET_KEY": SECRET_KEY,
            "SMSLEDGER_PUBLIC_URL": public_url, "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true"}


def run_cli(folder: Path, env: dict[str, str], *args: str) -> Any:
    """One command to its end; its JSON output."""
    done = subprocess.run([*CLI, *args], env=env, cwd=folder, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class ServeProcess:
    """`smsledger serve` on a port of its own, answering at its own public URL."""

    def __init__(self, folder: Path, store_url: str, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(store_url, self.url)
        self.folder, self.name = folder, name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen([*CLI, "serve", "--port", str(self.port)], env=self.env,
                                        cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self) -> None:
        wait_for(self._healthy, timeout=60, what=f"{self.name} to answer")

    def _healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, f"{self.name} exited"
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        stop_process(self.process)


class MaintenanceProcess:
    """`smsledger maintenance --interval 1`: a round a second, as an operator runs it."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.output = folder / "maintenance.out"
        self.process = subprocess.Popen([*CLI, "maintenance", "--interval", "1"], env=env,
                                        cwd=folder, stdout=self.output.open("wb"),
                                        stderr=(folder / "maintenance.err").open("wb"))

    def rounds(self) -> list[dict[str, Any]]:
        """The rounds it has printed so far (one JSON line each)."""
        return [json.loads(line) for line in self.output.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()



def read_feed(base_url: str, token: str, project: str) -> list[dict[str, Any]]:
    """A project's whole campaign-event feed from a service, page by page."""
    events: list[dict[str, Any]] = []
    cursor = "0"
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        while True:
            page = client.get(f"/v1/projects/{project}/events",
                              params={"after": cursor, "limit": 500}).json()
            if not page["events"]:
                return events
            events += page["events"]
            cursor = page["next"]
