"""The service killed (SIGKILL) in the middle of a batch send, then restarted: the
platform retries its request (or does not), one maintenance round runs, and every
message of the batch was sent to Infobip (the simulator) exactly once; none is left
requested."""

import json
import os
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.serve_process import CLI, Service, free_port
from support.waiting import wait_for

API_KEY = "crash-test-infobip-key"
BATCHES, BATCH = 5, 1000


def numbers():
    # "10": pending, then delivered; one "93": Infobip answers that request slowly once,
    # which keeps the second batch's call open long enough to kill the service during it.
    listed = [f"+38591{i:05d}10" for i in range(BATCHES * BATCH)]
    listed[BATCH + 500] = "+385919999993"
    return listed


@pytest.mark.parametrize("platform_retries", [True, False], ids=["retried", "not-retried"])
def test_a_batch_send_killed_midway_ends_sent_exactly_once(tmp_path, platform_retries):
    port = free_port()
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/crash.db",
           "SMSLEDGER_SECRET_KEY": "crash-test-key-0123456789abcdef",
           "SMSLEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true", "SMSLEDGER_SEND_BATCH_SIZE": str(BATCH)}
    admin = json.loads(subprocess.run([*CLI, "projects", "create", "acme"], env=env,
                                      cwd=tmp_path, capture_output=True, text=True,
                                      check=True).stdout)["admin_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    batch = {"messages": [{"customer_id": f"c{i}", "to": number, "text": "Spring sale",
                           "campaign_id": "spring", "message_id": f"m-{i}"}
                          for i, number in enumerate(numbers())]}
    config = SimulatorConfig(api_key=API_KEY, report_delay=0.05, slow_answer_seconds=5.0)
    service = Service(tmp_path, env, port)
    with InfobipSimulator(config) as simulator:
        try:
            service.start()
            configured = httpx.put(f"{service.base}/v1/projects/acme/integrations/infobip",
                                   headers=headers, json={
                                       "base_url": simulator.base_url, "api_key": API_KEY,
                                       "senders": ["Acme"], "default_sender": "Acme"})
            assert configured.status_code == 200, configured.text
            assert httpx.put(f"{service.base}/v1/projects/acme/channels/sms", headers=headers,
                             json={"default_provider": "infobip"}).status_code == 200

            # The platform posts the batch; the service dies while the second batch's
            # request is with Infobip (taken in, not yet answered).
            platform = subprocess.Popen(
                [sys.executable, "-c", "import httpx, sys; httpx.post(sys.argv[1], "
                 "headers={'Authorization': sys.argv[2], 'Content-Type': 'application/json'}, "
                 "content=sys.stdin.read(), "
                 "timeout=120)", f"{service.base}/v1/projects/acme/messages/batch",
                 f"Bearer {admin}"], stdin=subprocess.PIPE)
            platform.stdin.write(json.dumps(batch).encode())
            platform.stdin.close()
            wait_for(lambda: len(simulator.sent_message_ids()) >= 2 * BATCH, timeout=60,
                     what="the second batch to reach Infobip")
            service.kill()
            platform.wait(timeout=30)
            taken_before_kill = len(simulator.sent_message_ids())
            assert taken_before_kill < BATCHES * BATCH  # the kill came in the middle

            # Restarted, the platform retries the same request (its ids make it safe),
            # or not; a maintenance round settles what the crash left open: without the
            # retry, the batch stored but never handed over is sent by the round (this
            # one, or the restarted service's own, whichever claims a message first).
            service.start()
            if platform_retries:
                retried = httpx.post(f"{service.base}/v1/projects/acme/messages/batch",
                                     headers=headers, json=batch, timeout=120)
                assert retried.status_code == 202, retried.text
            round_ = subprocess.run([*CLI, "maintenance", "--once", "--older-than", "0"],
                                    env=env, cwd=tmp_path, capture_output=True, text=True)
            assert round_.returncode == 0, round_.stderr
            done = json.loads(round_.stdout)
            assert done["failed_integrations"] == [] and done["gave_up"] == 0

            def audit():
                return httpx.get(f"{service.base}/v1/projects/acme/campaigns/spring/audit",
                                 headers=headers, timeout=60).json()

            # Without the retry, what the crash kept from the batch: its first messages,
            # stored in order, batch by batch, before their hand-over.
            stored = BATCHES * BATCH if platform_retries else audit()["requested"]
            assert taken_before_kill <= stored <= BATCHES * BATCH
            expected = {f"m-{i}" for i in range(stored)}
            wait_for(lambda: set(simulator.sent_message_ids()) >= expected, timeout=60,
                     what="every stored message to reach Infobip")
            simulator.wait_until_idle(timeout=60)
            sent = Counter(simulator.sent_message_ids())
            assert set(sent) == expected
            assert set(sent.values()) == {1}, [m for m, n in sent.items() if n > 1][:5]

            settled = wait_for(lambda: (found := audit())["delivered"] == stored and found,
                               timeout=60, what="every report to be stored")
            assert (settled["requested"], settled["unresolved"], settled["enqueue_failed"]) == (
                stored, 0, 0)
        finally:
            service.stop()
