"""`smsledger serve` in a process of its own, as an operator runs it: for tests that kill
it (SIGKILL) and start it again on the same port and store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx

from support.waiting import wait_for

CLI = [sys.executable, "-m", "smsledger.adapters.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """`smsledger serve` on a fixed port, so a restart keeps it; its output is appended
    to serve.log in `folder`. `options` are serve's own (e.g. "--no-worker")."""

    def __init__(self, folder, env, port, *options):
        self.folder, self.env, self.port, self.options = folder, env, port, options
        self.base = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        with (self.folder / "serve.log").open("ab") as log:
            # TMPDIR: serve's metrics directory, which a crash leaves behind, stays in
            # the test's folder.
            self.process = subprocess.Popen([*CLI, "serve", "--port", str(self.port),
                                             *self.options],
                                            env={**self.env, "TMPDIR": str(self.folder)},
                                            cwd=self.folder, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._healthy, timeout=60, what="the service to answer")
        return self

    def _healthy(self):
        assert self.process.poll() is None, "the service exited"
        try:
            return httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self):
        """A crash: every process of the service (HTTP and background) killed at once,
        as a host or container going down kills them. (Killing `serve` alone lets its
        processes stop gracefully: tests/cli/test_serve.py.)"""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
