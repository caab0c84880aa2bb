"""serve --pin-cpus's plan: one CPU per HTTP process, the rest to the background process."""

import os
import sys

import pytest

from smsledger.adapters.runtime.cpu_pinning import CannotPin, CpuPlan, pin_this_process


def test_each_http_process_gets_a_cpu_and_the_background_process_the_rest():
    plan = CpuPlan.for_workers(3, available={0, 1, 2, 3, 4, 5, 6, 7})
    assert plan.http == (frozenset({0}), frozenset({1}), frozenset({2}))
    assert plan.background == frozenset({3, 4, 5, 6, 7})


def test_the_cpus_a_cpuset_allows_are_used_in_order():
    plan = CpuPlan.for_workers(1, available={9, 4, 6})
    assert plan.http == (frozenset({4}),)
    assert plan.background == frozenset({6, 9})


def test_as_many_http_processes_as_cpus_leave_the_background_process_unpinned():
    plan = CpuPlan.for_workers(2, available={0, 1})
    assert plan.http == (frozenset({0}), frozenset({1}))
    assert plan.background is None  # every CPU: none is left over for it alone


def test_more_http_processes_than_cpus_are_refused():
    with pytest.raises(CannotPin, match="--pin-cpus with 3 HTTP processes on 2 CPU"):
        CpuPlan.for_workers(3, available={0, 1})


def test_a_refused_pinning_is_named(monkeypatch):
    def refuse(pid, cpus):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse, raising=False)
    with pytest.raises(CannotPin, match=r"cannot pin the http process to CPU\(s\) \[7\]: "
                                        "Invalid argument"):
        pin_this_process(frozenset({7}), role="http")


def test_only_linux_pins(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(CannotPin, match="--pin-cpus needs Linux"):
        CpuPlan.for_workers(1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sched_getaffinity: Linux")
def test_by_default_the_plan_uses_the_cpus_this_process_may_run_on(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5}, raising=False)
    plan = CpuPlan.for_workers(1)
    assert plan.http == (frozenset({3}),)
    assert plan.background == frozenset({5})
