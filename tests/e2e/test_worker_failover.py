"""Many hosts, one store (README, Deployment): `smsledger serve --no-worker` answering,
two `smsledger worker` processes beside it on one PostgreSQL store, one active and
one standing by for each job. The active worker is killed outright (SIGKILL) while
reports are arriving; the standby takes both jobs within seconds and runs them, and
the feed and the audit come out exact.

The workers' processes are killed, never the database: the machine's PostgreSQL
server, with a schema of the test's own."""

from __future__ import annotations

import os
import time
from collections import Counter

import httpx

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.config import load_settings
from smsledger.application.ledger import LedgerApplication
from support.serve_process import Service, free_port
from support.waiting import wait_for
from support.wiring import ledger_of
from support.worker_process import Worker, holder_pid, postgres_job_holders

API_KEY = "failover-infobip-key"
SECRET_KEY = "failover-secret-key-0123456789abcdef"
CAMPAIGN = "spring"
RULES = {"00": "delivered", "20": "rejected", "30": "failed"}  # the simulator's magic numbers
JOBS = ("projections", "maintenance")
TAKEOVER_BOUND = 10.0  # seconds from the active worker's death to the standby running its jobs


def deployment_env(database_url: str, port: int) -> dict[str, str]:
    """What every process of the deployment shares: the store, the secret key, the public
    address (the one service's)."""
    return {**os.environ, "SMSLEDGER_DATABASE_URL": database_url,
            "SMSLEDGER_SECRET_KEY": SECRET_KEY, "SMSLEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true"}


def messages(batch: str, network: str, per_rule: int) -> dict[str, str]:
    """message id -> a Croatian number on mobile `network` whose last two digits pick the
    simulator's rule. Each batch its own numbers: a failed one (rule 30, a permanent
    error) is marked invalid, and sends to it are refused afterwards."""
    return {f"{batch}-{rule}-{i}": f"+385{network}{i:05d}{rule}" for rule in RULES
            for i in range(per_rule)}


def projections_behind(ledger: LedgerApplication) -> list[str]:
    """The projections whose live view has not processed every event of theirs, read
    from the store without catching anything up (a read through the service would)."""
    runner = ledger.projections
    return [name for name, projection in runner.projections.items()
            if ledger.recorder.select_notifications(
                start=runner.store.position(runner.store.live_view(name)), limit=1,
                topics=projection.topics, inclusive_of_start=False)]


class Platform:
    """The platform's side: sends through the service and reads what it answers."""

    def __init__(self, base: str, admin_token: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60,
                                   headers={"Authorization": f"Bearer {admin_token}"})

    def send(self, batch: dict[str, str]) -> None:
        answer = self.client.post("/v1/projects/acme/messages/batch", json={"messages": [
            {"customer_id": f"c-{m}", "to": to, "text": "Spring sale", "campaign_id": CAMPAIGN,
             "message_id": m} for m, to in batch.items()]})
        assert answer.status_code == 202, answer.text
        assert Counter(m["status"] for m in answer.json()["messages"]) == {"enqueued": len(batch)}

    def feed(self) -> list[dict]:
        events, cursor = [], "0"
        while True:
            page = self.client.get("/v1/projects/acme/events",
                                   params={"after": cursor, "limit": 500}).json()
            if not page["events"]:
                return events
            events += page["events"]
            cursor = page["next"]

    def audit(self) -> dict:
        answer = self.client.get(f"/v1/projects/acme/campaigns/{CAMPAIGN}/audit")
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_the_standby_worker_takes_over_when_the_active_one_is_killed(postgres_url, tmp_path):
    schema = postgres_url.rsplit("schema=", 1)[1]
    port = free_port()
    env = deployment_env(postgres_url, port)
    service = Service(tmp_path, env, port, "--no-worker")
    workers = [Worker(tmp_path, env, "worker-a"), Worker(tmp_path, env, "worker-b")]
    observer = bootstrap(settings=load_settings(database_url=postgres_url,
                                                secret_key=SECRET_KEY), sends=False)
    ledger = ledger_of(observer)
    with InfobipSimulator(SimulatorConfig(api_key=API_KEY, report_delay=0.05)) as simulator:
        try:
            admin = observer.projects.create_project("acme")
            service.start()
            platform = Platform(service.base, admin)
            configured = platform.client.put("/v1/projects/acme/integrations/infobip", json={
                "base_url": simulator.base_url, "api_key": API_KEY, "senders": ["Acme"],
                "default_sender": "Acme"})
            assert configured.status_code == 200, configured.text
            assert platform.client.put("/v1/projects/acme/channels/sms", json={
                "default_provider": "infobip"}).status_code == 200

            active, standby = workers
            active.start()
            wait_for(lambda: all(active.holds(job) for job in JOBS), timeout=10,
                     what="the first worker to take both jobs")
            standby.start()
            time.sleep(2.5)  # more than two of the standby's tries at each lock
            assert not any(standby.holds(job) for job in JOBS), standby.lines()
            for job in JOBS:  # one holder per job, as the database sees it
                assert [holder_pid(name) for name in postgres_job_holders(schema, job)] == [
                    active.pid]

            first = messages("first", "91", per_rule=20)
            platform.send(first)
            assert simulator.wait_until_idle(timeout=30)
            # Nothing reads meanwhile: the active worker alone brings the views up.
            wait_for(lambda: projections_behind(ledger) == [], timeout=10,
                     what="the active worker to catch the projections up")

            second = messages("second", "92", per_rule=20)
            platform.send(second)  # its reports arrive while the active worker dies
            active.kill()
            killed = time.monotonic()
            wait_for(lambda: all(standby.holds(job) for job in JOBS), timeout=TAKEOVER_BOUND,
                     what="the standby to take both jobs")
            assert time.monotonic() - killed < TAKEOVER_BOUND
            for job in JOBS:
                assert [holder_pid(name) for name in postgres_job_holders(schema, job)] == [
                    standby.pid]
            assert simulator.wait_until_idle(timeout=30)
            wait_for(lambda: projections_behind(ledger) == [], timeout=TAKEOVER_BOUND,
                     what="the standby to catch the projections up")
            took_maintenance = next(i for i, line in enumerate(standby.lines())
                                    if line["message"] == "took job maintenance")
            wait_for(lambda: len(standby.lines()) > took_maintenance and any(
                line["message"] == "maintenance" for line in standby.lines()[took_maintenance:]),
                     timeout=TAKEOVER_BOUND, what="the standby's first maintenance round")

            everything = {**first, **second}
            events = platform.feed()
            assert len({event["event_id"] for event in events}) == len(events)
            statuses: dict[str, list[str]] = {}
            for event in events:
                statuses.setdefault(event["properties"]["message_id"], []).append(
                    event["properties"]["status"])
            assert statuses == {m: ["enqueued", RULES[m.split("-")[1]]] for m in everything}
            assert len(events) == 2 * len(everything)
            audit = platform.audit()
            assert {k: audit[k] for k in ("requested", "enqueued", "unresolved", "delivered",
                                          "rejected", "failed", "pending")} == {
                "requested": 120, "enqueued": 120, "unresolved": 0, "delivered": 40,
                "rejected": 40, "failed": 40, "pending": 0}
            assert audit["drift"] == []

            assert standby.stop() == 0  # SIGTERM: jobs stopped, locks given up, store closed
            assert standby.said("released job projections") and standby.said("worker stopped")
            assert all(postgres_job_holders(schema, job) == [] for job in JOBS)
        finally:
            for worker in workers:
                worker.stop()
            service.stop()
            observer.close()
