"""`smsledger serve --workers N` in a process of its own, with the pids of the processes
it started (its HTTP workers and its background process), for the tests that look at
them."""

from __future__ import annotations

import json
import subprocess
import time

import httpx

from support.serve_process import CLI, free_port


class Served:
    """`serve --workers N` on a free port, its output in a file; on entering, every
    worker has started (each logs it), and the pids of its processes are known: the
    HTTP workers', and the background process's unless --no-worker."""

    def __init__(self, folder, env, *, workers, options=()):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), "--workers", str(workers), *options],
                # TMPDIR: the metrics directory of a serve killed outright stays here.
                env={**env, "TMPDIR": str(folder)}, cwd=folder, stdout=output,
                stderr=subprocess.STDOUT)
        self.expected = workers
        self.workers, self.processes, self.background = [], [], None

    def __enter__(self):
        deadline = time.monotonic() + 60
        while True:
            started = {line.get("worker") for line in self.log_lines()
                       if line["message"] == "Application startup complete."}
            if len(started) == self.expected:
                break
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        wait_until_healthy(self.base)
        self.processes = spawned(self.process.pid)
        self.workers = [pid for pid in self.processes if self._http_pid(pid)]
        background = [pid for pid in self.processes if pid not in self.workers]
        assert len(self.workers) == self.expected and len(background) <= 1
        self.background = background[0] if background else None
        return self

    def _http_pid(self, pid):
        return any(line["message"] == f"Started server process [{pid}]"
                   for line in self.log_lines())

    def __exit__(self, *_):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_lines(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if line.startswith("{")]


def wait_until_healthy(base):
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
            return
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)


def spawned(pid):
    """The processes serve started (HTTP workers and the background process)."""
    return sorted(child for child in _children(pid)
                  if "spawn_main" in _command_line(child)
                  and "resource_tracker" not in _command_line(child))


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _command_line(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as raw:
        return raw.read().replace(b"\0", b" ").decode()
