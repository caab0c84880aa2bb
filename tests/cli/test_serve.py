"""`smsledger serve` as an operator starts it: a process, configured from the environment,
with projects and tokens made by the CLI beside it."""

import json
import os
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
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
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
