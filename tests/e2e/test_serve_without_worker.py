"""`smsledger serve --no-worker` runs no background job: its reads still answer (each
catches its projection up), but no maintenance round runs, so a message handed to an
Infobip that could not be reached stays open until a `smsledger worker` runs one.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.serve_process import CLI, Service, free_port
from support.waiting import wait_for
from support.worker_process import Worker, postgres_job_holders, sqlite_job_is_held

API_KEY = "no-worker-infobip-key"
JOBS = ("projections", "maintenance")
QUIET_SECONDS = 3.0  # how long the service is watched doing nothing on its own


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """(database URL, a function answering whether a process holds a job's lock)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = url.rsplit("schema=", 1)[1]
        return url, lambda job: postgres_job_holders(schema, job) != []
    database = tmp_path / "store.db"
    return f"sqlite:///{database}", lambda job: sqlite_job_is_held(database, job)


def test_serve_without_worker_leaves_maintenance_to_a_worker(store, tmp_path):
    database_url, job_is_held = store
    port, infobip_port = free_port(), free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": database_url,
           "SMSLEDGER_SECRET_KEY": "no-worker-secret-key-0123456789",
           "SMSLEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true",
           # Every wait of recovery zero: the first round that runs sends the message again.
           "SMSLEDGER_RECONCILE_AFTER_SECONDS": "0", "SMSLEDGER_RESEND_AFTER_SECONDS": "0",
           "SMSLEDGER_SEND_UNSENT_AFTER_SECONDS": "0"}
    created = subprocess.run([*CLI, "projects", "create", "acme"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, check=True)
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['admin_token']}"}
    service = Service(tmp_path, env, port, "--no-worker").start()
    worker = Worker(tmp_path, env, "worker")
    try:
        # Infobip's address, with nothing listening there yet: the send cannot reach it.
        assert httpx.put(f"{service.base}/v1/projects/acme/integrations/infobip",
                         headers=headers, json={
                             "base_url": f"http://127.0.0.1:{infobip_port}", "api_key": API_KEY,
                             "senders": ["Acme"], "default_sender": "Acme"}).status_code == 200
        assert httpx.put(f"{service.base}/v1/projects/acme/channels/sms", headers=headers,
                         json={"default_provider": "infobip"}).status_code == 200
        sent = httpx.post(f"{service.base}/v1/projects/acme/messages", headers=headers,
                          timeout=60, json={"customer_id": "c-1", "to": "+385921234500",
                                            "text": "Spring sale", "campaign_id": "spring",
                                            "message_id": "m-1"})
        assert sent.status_code == 202, sent.text
        assert sent.json()["status"] == "requested"

        with InfobipSimulator(SimulatorConfig(api_key=API_KEY, report_delay=0.05),
                              port=infobip_port) as infobip:
            # A service with background work runs a maintenance round as it starts:
            # started again without it, the service leaves the message as it is.
            service.stop()
            service.start()
            time.sleep(QUIET_SECONDS)
            message = httpx.get(f"{service.base}/v1/projects/acme/messages/m-1",
                                headers=headers).json()  # a read: it catches its view up
            assert message["status"] == "requested"
            assert [e["event"] for e in message["history"]] == ["Requested", "HandedOver"]
            assert infobip.requests == []
            assert not any(job_is_held(job) for job in JOBS)
            assert "took job" not in (tmp_path / "serve.log").read_text()

            worker.start()
            wait_for(lambda: httpx.get(f"{service.base}/v1/projects/acme/messages/m-1",
                                       headers=headers).json()["status"] == "delivered",
                     timeout=20, what="the worker's round to send the message again")
            assert all(job_is_held(job) for job in JOBS)
            assert [d["messageId"] for r in infobip.requests for m in r.body["messages"]
                    for d in m["destinations"]] == ["m-1"]
            assert sum(r["resent"] for r in worker.rounds()) == 1
    finally:
        worker.stop()
        service.stop()
    # Both are our processes: each collects its youngest generation every 10,000
    # allocations (adapters/runtime/garbage_collection.py), as its log says.
    serve_lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()
                   if line.startswith("{")]
    for lines in (serve_lines, worker.lines()):
        assert [line["gc_thresholds"] for line in lines if "gc_thresholds" in line][-1] == [
            10_000, 10, 10]

