"""`smsledger serve` as an operator starts it: a process, configured from the environment,
with projects and tokens made by the CLI beside it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_and_uses_the_projects_the_cli_creates(tmp_path):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SMSLEDGER_SECRET_KEY": "serve-test-key-0123456789",
           "SMSLEDGER_PUBLIC_URL": "https://sms.example.com"}
    cli = [sys.executable, "-m", "adapters.cli"]
    created = subprocess.run([*cli, "projects", "create", "acme"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    admin = json.loads(created.stdout)
    assert admin["project_id"] == "acme" and admin["admin_token"].startswith("sml_acme.")
    member = json.loads(subprocess.run([*cli, "tokens", "create", "--project", "acme", "--role",
                                        "member"], env=env, cwd=tmp_path, capture_output=True,
                                       text=True, check=True).stdout)["token"]

    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base)
        put = httpx.put(f"{base}/v1/projects/acme/integrations/infobip",
                        headers={"Authorization": f"Bearer {admin['admin_token']}"},
                        json={"base_url": "https://xyz.api.infobip.com", "api_key": "k" * 32,
                              "senders": ["Acme"], "default_sender": "Acme"})
        assert put.status_code == 200
        assert put.json()["webhooks"]["delivery_reports"].startswith("https://sms.example.com/v1/")
        denied = httpx.put(f"{base}/v1/projects/acme/channels/sms",
                           headers={"Authorization": f"Bearer {member}"},
                           json={"default_provider": "infobip"})
        assert denied.status_code == 403
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    assert {r["status"] for r in requests} >= {200, 403}
    assert all(r["request_id"] for r in requests)
    assert "k" * 32 not in output and admin["admin_token"] not in output


def test_serve_with_workers_answers_from_each_and_stops_them_all(tmp_path):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    cli = [sys.executable, "-m", "adapters.cli"]
    admin = json.loads(subprocess.run([*cli, "projects", "create", "acme"], env=env,
                                      cwd=tmp_path, capture_output=True, text=True,
                                      check=True).stdout)["admin_token"]
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--workers", "2"], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base)
        workers = _workers(server.pid)
        assert len(workers) == 2
        headers = {"Authorization": f"Bearer {admin}"}
        put = httpx.put(f"{base}/v1/projects/acme/integrations/infobip", headers=headers,
                        json={"base_url": "https://xyz.api.infobip.com", "api_key": "k" * 32,
                              "senders": ["Acme"], "default_sender": "Acme"})
        assert put.status_code == 200
        secret = put.json()["webhooks"]["secret"]
        # A new connection per request: the kernel spreads them over both workers, and
        # each sees what the other stored, with the same webhook secret.
        for _ in range(40):
            listed = httpx.get(f"{base}/v1/projects/acme/integrations", headers=headers)
            assert [i["integration_id"] for i in listed.json()["integrations"]] == ["infobip"]
            assert httpx.post(f"{base}/v1/webhooks/infobip/acme/infobip/delivery-reports",
                              auth=("infobip", secret), json={"results": []}).status_code == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=40)
    assert server.returncode == 0
    assert all(not os.path.exists(f"/proc/{pid}") for pid in workers)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    answered_by = {line.get("worker") for line in lines if line.get("message") == "request"}
    assert answered_by == {0, 1}


def test_serve_stops_every_worker_and_fails_when_one_dies(tmp_path):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--port",
                               str(port), "--workers", "2"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_healthy(f"http://127.0.0.1:{port}")
        workers = _workers(server.pid)
        os.kill(workers[1], signal.SIGKILL)
        output, _ = server.communicate(timeout=40)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 1
    assert not os.path.exists(f"/proc/{workers[0]}")
    died = [json.loads(line) for line in output.splitlines() if "a worker exited" in line]
    assert died and list(died[0]["exit_codes"].values()) == [-signal.SIGKILL]


def _wait_until_healthy(base):
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
            return
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)


def _workers(pid):
    """The worker processes serve started."""
    return sorted(child for child in _children(pid)
                  if "spawn_main" in _command_line(child)
                  and "resource_tracker" not in _command_line(child))


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _command_line(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as raw:
        return raw.read().replace(b"\0", b" ").decode()
