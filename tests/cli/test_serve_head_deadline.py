"""`smsledger serve` closes a connection whose request head never completes, in one
process and with workers (each runs uvicorn its own way: smsledger.adapters.http.serving)."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from smsledger.adapters.http.header_deadline import HEADER_TIMEOUT
from support.waiting import wait_for

CLI = [sys.executable, "-m", "smsledger.adapters.cli"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(base):
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_closes_a_connection_whose_head_never_completes(tmp_path, workers):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SMSLEDGER_SECRET_KEY": "serve-test-key-0123456789"}
    with (tmp_path / "serve.log").open("w") as output:
        server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", str(workers)],
                                  env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=60, what="serve to answer")
        with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 10) as client:
            started = time.monotonic()
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Never: ends")
            said = b""
            while chunk := client.recv(4096):  # until the server closes
                said += chunk
            seconds = time.monotonic() - started
        assert HEADER_TIMEOUT * 0.9 <= seconds < HEADER_TIMEOUT + 10
        assert said.startswith(b"HTTP/1.1 408 "), said
    finally:
        server.terminate()
        server.wait(timeout=40)
