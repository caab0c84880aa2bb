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

from support.serve_process import CLI, free_port
from support.served_workers import Served, spawned, wait_until_healthy


def test_serve_answers_and_uses_the_projects_the_cli_creates(tmp_path):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SMSLEDGER_SECRET_KEY": "serve-test-key-0123456789",
           "SMSLEDGER_PUBLIC_URL": "https://sms.example.com"}
    cli = [sys.executable, "-m", "smsledger.adapters.cli"]
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
        wait_until_healthy(base)
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
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    admin = json.loads(subprocess.run([*CLI, "projects", "create", "acme"], env=env,
                                      cwd=tmp_path, capture_output=True, text=True,
                                      check=True).stdout)["admin_token"]
    with Served(tmp_path, env, workers=2) as served:
        headers = {"Authorization": f"Bearer {admin}"}
        put = httpx.put(f"{served.base}/v1/projects/acme/integrations/infobip", headers=headers,
                        json={"base_url": "https://xyz.api.infobip.com", "api_key": "k" * 32,
                              "senders": ["Acme"], "default_sender": "Acme"})
        assert put.status_code == 200
        secret = put.json()["webhooks"]["secret"]
        # A new connection per request: the kernel spreads them over both workers, and
        # each sees what the other stored, with the same webhook secret.
        for _ in range(40):
            listed = httpx.get(f"{served.base}/v1/projects/acme/integrations", headers=headers)
            assert [i["integration_id"] for i in listed.json()["integrations"]] == ["infobip"]
            assert httpx.post(f"{served.base}/v1/webhooks/infobip/acme/infobip/delivery-reports",
                              auth=("infobip", secret), json={"results": []}).status_code == 200
        served.process.terminate()
        assert served.process.wait(timeout=40) == 0
    assert all(not os.path.exists(f"/proc/{pid}") for pid in served.processes)
    lines = served.log_lines()
    assert {line.get("worker") for line in lines if line.get("message") == "request"} == {0, 1}
    # Each worker closed the store before it exited.
    assert sorted(line["worker"] for line in lines if line["message"] == "service stopped"
                  ) == [0, 1]
    # The background process alone had the background jobs, and gave their locks up.
    assert sorted((line["worker"], line["message"]) for line in lines
                  if line.get("job") == "projections") == [
        ("background", "released job projections"), ("background", "took job projections")]
    assert [line["worker"] for line in lines if line["message"] == "worker stopped"] == [
        "background"]
    # Every process of the service collects its youngest generation every 10,000
    # allocations, not Python's 700 (adapters/runtime/garbage_collection.py).
    assert sorted((str(line["worker"]), line["gc_thresholds"]) for line in lines
                  if "gc_thresholds" in line) == [
        ("0", [10_000, 10, 10]), ("1", [10_000, 10, 10]), ("background", [10_000, 10, 10])]


def test_serve_with_workers_and_no_worker_runs_no_background_job(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=2, options=["--no-worker"]) as served:
        time.sleep(2)  # the first worker would have taken its jobs by now
        served.process.terminate()
        assert served.process.wait(timeout=40) == 0
    lines = served.log_lines()
    assert sorted(line["worker"] for line in lines if line["message"] == "service stopped"
                  ) == [0, 1]
    assert [line for line in lines if "job" in line] == []
    assert list(tmp_path.glob("serve.db.*.lock")) == []


def test_serve_stops_every_worker_and_fails_when_one_dies(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=2) as served:
        os.kill(served.workers[1], signal.SIGKILL)
        assert served.process.wait(timeout=40) == 1
    assert not any(_alive(pid) for pid in served.processes)
    died = [line for line in served.log_lines()
            if line["message"].startswith("a process of the service exited")]
    assert died and died[0]["exit_codes"] == {"smsledger-worker-1": -signal.SIGKILL}


def test_serve_stops_and_fails_when_its_background_process_dies(tmp_path):
    """The background work is a process of `serve` (by default, with one HTTP process):
    without it the feed would stop moving while the service answers, so its death
    stops the service, for the supervisor to restart it whole."""
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=1) as served:
        assert len(served.processes) == 2 and served.background not in served.workers
        os.kill(served.background, signal.SIGKILL)
        assert served.process.wait(timeout=40) == 1
    assert not any(_alive(pid) for pid in served.processes)
    died = [line for line in served.log_lines()
            if line["message"].startswith("a process of the service exited")]
    assert died and died[0]["exit_codes"] == {"smsledger-background": -signal.SIGKILL}


def test_workers_stop_when_serve_is_killed_outright(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=2) as served:
        served.process.kill()
        served.process.wait(timeout=10)
        deadline = time.monotonic() + 40
        while any(_alive(pid) for pid in served.processes):
            assert time.monotonic() < deadline, "orphaned workers still running"
            time.sleep(0.1)
    # Killed, it could not remove its metrics directory: the next serve does.
    left = _metrics_directories(tmp_path)
    assert [path.name.split("-")[2] for path in left] == [str(served.process.pid)]
    with Served(tmp_path, env, workers=1) as again:
        assert [path.name.split("-")[2] for path in _metrics_directories(tmp_path)] == [
            str(again.process.pid)]
        assert any(line["message"].startswith("removed the metrics directories")
                   and line["directories"] == [str(left[0])] for line in again.log_lines())
        again.process.terminate()
        assert again.process.wait(timeout=40) == 0
    assert _metrics_directories(tmp_path) == []


def _metrics_directories(folder):
    return sorted(folder.glob("smsledger-metrics-*"))


def test_workers_refuse_a_port_already_taken(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*CLI, "serve", "--port", str(port), "--workers", "2"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_serve_refuses_a_bad_key_file_at_start(tmp_path):
    (tmp_path / "smsledger.key").write_text("short")
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    env.pop("SMSLEDGER_SECRET_KEY", None)
    done = subprocess.run([*CLI, "serve", "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "the key file 'smsledger.key' holds 5 characters" in done.stderr



def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has stopped already
    except FileNotFoundError:
        return False


def test_serve_on_a_store_in_memory_runs_its_background_work_in_its_one_process(tmp_path):
    """No other process sees a store in memory: the background work runs as threads of
    the one HTTP process, and several HTTP processes are refused."""
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": "memory://",
           "SMSLEDGER_SECRET_KEY": "serve-test-key-0123456789"}
    port = free_port()
    refused = subprocess.run([*CLI, "serve", "--port", str(port), "--workers", "2"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "not memory://" in refused.stderr
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                                  stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}")
        assert spawned(server.pid) == []
        deadline = time.monotonic() + 30
        while '"message": "maintenance"' not in log.read_text():  # its first round
            assert time.monotonic() < deadline, "the background work never ran"
            time.sleep(0.1)
    finally:
        server.terminate()
        assert server.wait(timeout=40) == 0
