"""`smsledger serve --pin-cpus`, read back from the kernel: every thread of each HTTP
process on the CPU of its own, the background process's on the CPUs left over, and
nothing pinned without the option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.serve_process import CLI, Service, free_port
from support.served_workers import Served

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="CPU affinity: Linux")


def allowed() -> list[int]:
    """The CPUs this test may run on, as serve sees them (a cpuset narrows them)."""
    return sorted(os.sched_getaffinity(0))


def cpus_of_every_thread(pid: int) -> list[set[int]]:
    """The CPUs each thread of `pid` may run on, from /proc, in one pass (a thread that
    ends meanwhile is left out)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue
        listed = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                      if line.startswith("Cpus_allowed_list:"))
        found.append(_cpu_list(listed))
    return found


def _cpu_list(listed: str) -> set[int]:
    """ "0-2,5" -> {0, 1, 2, 5}"""
    cpus: set[int] = set()
    for part in listed.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def worker_index(served: Served, pid: int) -> int:
    return next(line["worker"] for line in served.log_lines()
                if line["message"] == f"Started server process [{pid}]")


@pytest.mark.parametrize("workers", [1, 2])
def test_each_http_process_runs_on_a_cpu_of_its_own(tmp_path, workers):
    cpus = allowed()
    if workers > len(cpus):
        why = f"{workers} HTTP processes need as many CPUs; this machine allows {len(cpus)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{why} (CI runs on 2 CPUs)")
        pytest.skip(why)
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=workers, options=["--pin-cpus"]) as served:
        # A request thread in each HTTP process: /readyz runs in one, and the kernel
        # spreads these new connections over the processes.
        for _ in range(40):
            assert httpx.get(f"{served.base}/readyz").status_code == 200
        for pid in served.workers:
            # Every thread, the request threads and the store's pool among them, started
            # after the process was pinned.
            threads = cpus_of_every_thread(pid)
            assert len(threads) > 1
            assert all(thread == {cpus[worker_index(served, pid)]} for thread in threads)
        left_over = set(cpus[workers:]) or set(cpus)  # every CPU when none is left over
        assert all(thread == left_over for thread in cpus_of_every_thread(served.background))
        served.process.terminate()
        assert served.process.wait(timeout=40) == 0
    lines = served.log_lines()
    pinned = sorted((str(line["worker"]), line["cpus"]) for line in lines
                    if line["message"] == "pinned to CPUs")
    expected = [(str(index), [cpus[index]]) for index in range(workers)]
    if cpus[workers:]:
        expected.append(("background", cpus[workers:]))
    assert pinned == sorted(expected)
    # Told when the background process is left no CPU of its own.
    warned = [line for line in lines if line["message"].startswith("--pin-cpus with as many")]
    assert len(warned) == (1 if len(cpus) == workers else 0)


@pytest.mark.parametrize("store, options, refusal", [
    ("sqlite", ["--workers", "{too_many}"], "--pin-cpus with {too_many} HTTP processes on"),
    ("memory", [], "--pin-cpus needs a store the processes share"),
])
def test_pinning_that_cannot_work_is_refused_before_anything_starts(tmp_path, store, options,
                                                                     refusal):
    too_many = str(len(allowed()) + 1)
    url = f"sqlite:///{tmp_path}/serve.db" if store == "sqlite" else "memory://"
    done = subprocess.run(
        [*CLI, "serve", "--port", str(free_port()), "--pin-cpus",
         *[option.format(too_many=too_many) for option in options]],
        env={**os.environ, "SMSLEDGER_DATABASE_URL": url}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert refusal.format(too_many=too_many) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "serve.db").exists()  # refused before the store was opened


def test_without_the_option_no_process_is_pinned(tmp_path):
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    with Served(tmp_path, env, workers=1) as served:
        for pid in served.processes:
            assert all(threads == set(allowed()) for threads in cpus_of_every_thread(pid))
        served.process.terminate()
        assert served.process.wait(timeout=40) == 0
    assert [line for line in served.log_lines() if line["message"] == "pinned to CPUs"] == []


def test_serve_in_one_process_pins_itself(tmp_path):
    """--no-worker with one HTTP process: serve is that process."""
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    service = Service(tmp_path, env, free_port(), "--no-worker", "--pin-cpus").start()
    try:
        assert httpx.get(f"{service.base}/readyz").status_code == 200  # a request thread
        threads = cpus_of_every_thread(service.process.pid)
        assert len(threads) > 1
        assert all(thread == {allowed()[0]} for thread in threads)
    finally:
        service.stop()
    logged = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()
              if line.startswith("{")]
    assert [line["cpus"] for line in logged if line["message"] == "pinned to CPUs"] == [
        [allowed()[0]]]
