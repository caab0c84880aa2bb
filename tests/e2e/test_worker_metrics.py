"""`smsledger worker --metrics-port`: a worker on a host of its own answers GET /metrics
with its own job runs and the projections' lag; an address it cannot listen on stops
it before any job starts."""

from __future__ import annotations

import os
import socket
import subprocess

import httpx

from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.adapters.runtime.worker_metrics import MetricsServer
from smsledger.application.projection_lag import Lag
from smsledger.domain.errors import StoreUnavailable
from support.serve_process import CLI, free_port
from support.waiting import wait_for
from support.worker_process import Worker


def _env(tmp_path):
    return {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/store.db",
            "SMSLEDGER_SECRET_KEY": "worker-metrics-key-0123456789",
            "SMSLEDGER_PUBLIC_URL": "https://sms.example.com"}


def _value(text, series):
    """The value of the series named exactly `series` (name and labels), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_worker_answers_metrics_of_its_own_jobs_and_lag(tmp_path):
    port = free_port()
    worker = Worker(tmp_path, _env(tmp_path), "worker", ("--metrics-port", str(port))).start()
    try:
        assert worker.said("metrics served")
        url = f"http://127.0.0.1:{port}/metrics"
        runs = 'smsledger_background_job_runs_total{job="projections"}'
        text = wait_for(lambda: (answer := httpx.get(url)).status_code == 200 and (
            _value(answer.text, runs) or 0) >= 2 and answer.text, what="projection runs")
        assert httpx.get(url).headers["content-type"].startswith("text/plain; version=")
        assert _value(text, 'smsledger_background_job_failures_total{job="projections"}') in (
            None, 0.0)
        assert _value(text, 'smsledger_projection_events_behind{projection="feed"}') == 0.0
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 404
    finally:
        assert worker.stop() == 0
    assert worker.said("worker stopped")
    with socket.socket() as probe:  # nothing listens there any more
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        probe.bind(("127.0.0.1", port))


def test_a_metrics_port_taken_stops_the_worker_before_any_job(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run([*CLI, "worker", "--metrics-port", str(port)],
                                  env=_env(tmp_path), cwd=tmp_path, capture_output=True,
                                  text=True, timeout=60)
    assert finished.returncode != 0
    assert finished.stderr.strip() == (
        f"error: cannot listen for metrics on 127.0.0.1:{port}: Address already in use")
    assert "worker started" not in finished.stdout + finished.stderr
    assert not (tmp_path / "store.db").exists()  # the store was not even opened


def test_a_store_that_does_not_answer_leaves_the_counters_answering():
    metrics = ServiceMetrics()
    metrics.job_ran("maintenance", failed=True)
    server = MetricsServer(metrics, "127.0.0.1", 0)

    def lag() -> dict[str, Lag]:
        raise StoreUnavailable("the store is down")

    server.start(lag)
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert answer.status_code == 200
    assert _value(answer.text, 'smsledger_background_job_failures_total{job="maintenance"}') == 1


def test_a_metrics_host_without_a_port_is_refused(tmp_path):
    finished = subprocess.run([*CLI, "worker", "--metrics-host", "0.0.0.0"],
                              env=_env(tmp_path), cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode != 0
    assert finished.stderr.strip() == "error: --metrics-host needs --metrics-port"


def test_stopping_waits_for_a_scrape_under_way_which_never_reads_after():
    """The worker closes its store once the metrics server stopped: a scrape still
    measuring the lag then would read a closed store."""
    import threading
    import time

    started, finished = threading.Event(), []
    stopped_at = []

    def slow_lag() -> dict[str, Lag]:
        started.set()
        time.sleep(2.0)  # longer than the server's poll (0.5 s): stopping must wait
        finished.append(time.monotonic())
        return {"feed": Lag(3, 1.5)}

    server = MetricsServer(ServiceMetrics(), "127.0.0.1", 0)
    server.start(slow_lag)
    answers = []
    scrape = threading.Thread(target=lambda: answers.append(
        httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)))
    scrape.start()
    assert started.wait(5)
    server.stop()
    stopped_at.append(time.monotonic())
    scrape.join()
    assert finished and finished[0] <= stopped_at[0]
    assert answers[0].status_code == 200
    assert _value(answers[0].text, 'smsledger_projection_events_behind{projection="feed"}') == 3


def test_head_is_answered_and_a_failure_to_render_is_a_500_not_a_traceback():
    metrics = ServiceMetrics()
    server = MetricsServer(metrics, "127.0.0.1", 0)

    broken = []

    def lag() -> dict[str, Lag]:
        if broken:
            raise RuntimeError("a defect, not a store outage")
        return {}

    server.start(lag)
    try:
        head = httpx.head(f"http://127.0.0.1:{server.port}/metrics")
        broken.append(True)
        failed = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 1000  # what GET would have sent
    assert failed.status_code == 500 and failed.text == "metrics could not be rendered\n"
