"""`smsledger serve` as operations see it: metrics that add up over several workers,
the log level setting, and log lines that name the project."""

import json
import os
import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cli.test_serve import CLI, Served, free_port
from support.serve_process import Service

INTEGRATIONS = "/v1/projects/{project_id}/integrations"


def samples(text, name):
    return [sample for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name]


def counted(text, name, **labels):
    return sum(s.value for s in samples(text, name) if labels.items() <= s.labels.items())


def create_project(tmp_path, env):
    return json.loads(subprocess.run([*CLI, "projects", "create", "acme"], env=env,
                                     cwd=tmp_path, capture_output=True, text=True,
                                     check=True).stdout)["admin_token"]


def test_serve_with_workers_answers_metrics_with_every_worker_s_counts(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    admin = create_project(tmp_path, env)
    requests = 40
    with Served(tmp_path, env, workers=2) as served:
        headers = {"Authorization": f"Bearer {admin}"}
        for _ in range(requests):  # a new connection each: the kernel spreads them
            answer = httpx.get(f"{served.base}{INTEGRATIONS.format(project_id='acme')}",
                               headers=headers)
            assert answer.status_code == 200
        # Whichever worker answers the scrape, it counts both workers' requests.
        scrapes = [httpx.get(f"{served.base}/metrics").text for _ in range(12)]
        served.process.terminate()
        assert served.process.wait(timeout=40) == 0
    lines = served.log_lines()
    answered = [line["worker"] for line in lines
                if line.get("message") == "request" and line.get("route") == INTEGRATIONS]
    assert set(answered) == {0, 1}, "the kernel gave every request to one worker"
    scrapers = {line["worker"] for line in lines
                if line.get("message") == "request" and line.get("route") == "/metrics"}
    assert scrapers  # (usually both)
    for text in scrapes:
        assert counted(text, "smsledger_http_requests_total", route=INTEGRATIONS,
                       status="200") == requests
        assert counted(text, "smsledger_http_request_seconds_count",
                       route=INTEGRATIONS) == requests
        # The lag is the latest measure, one series per projection, not one per worker.
        lags = samples(text, "smsledger_projection_events_behind")
        assert lags and all(set(s.labels) == {"projection"} for s in lags)
        assert len({s.labels["projection"] for s in lags}) == len(lags)
        assert not [s for family in text_string_to_metric_families(text)
                    for s in family.samples if s.name.endswith("_created")]
    # The first worker ran the background jobs, counted like the rest.
    assert counted(scrapes[-1], "smsledger_background_job_runs_total", job="projections") >= 1


def test_the_log_level_setting_and_the_project_in_request_lines(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SMSLEDGER_SECRET_KEY": "log-level-test-0123456789"}
    admin = create_project(tmp_path, env)
    headers = {"Authorization": f"Bearer {admin}"}

    def run(level):
        (tmp_path / "serve.log").unlink(missing_ok=True)
        service = Service(tmp_path, {**env, **({"SMSLEDGER_LOG_LEVEL": level} if level else {})},
                          free_port()).start()
        try:
            assert httpx.get(f"{service.base}/v1/projects/acme/integrations",
                             headers=headers).status_code == 200
            assert httpx.get(f"{service.base}/v1/projects/acme/integrations",
                             headers={"Authorization": "Bearer sml_acme.nope"}).status_code == 401
            assert httpx.post(f"{service.base}/v1/webhooks/infobip/acme/infobip/inbound",
                              json={"results": []}).status_code == 401
        finally:
            service.stop()
        return [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()
                if line.startswith("{")]

    lines = run(None)  # INFO by default
    requests = [line for line in lines if line["message"] == "request"
                and line["path"].startswith("/v1/")]
    assert [(r["status"], r.get("project_id")) for r in requests] == [
        (200, "acme"),  # the authenticated caller's project
        (401, None),  # an unknown caller's claim is not taken as its project
        (401, "acme")]  # the project the webhook path names
    quiet = run("warning")
    assert quiet == [] or {line["level"] for line in quiet} <= {"warning", "error", "critical"}
    assert not [line for line in quiet if line["message"] == "request"]


def test_a_bad_log_level_is_refused_by_name(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SMSLEDGER_LOG_LEVEL": "loud"}
    done = subprocess.run([*CLI, "serve", "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "log_level" in done.stderr and "loud" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
