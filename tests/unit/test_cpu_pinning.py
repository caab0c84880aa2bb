"""serve --pin-cpus's plan: one CPU per HTTP process, the rest to the background process."""

import os
import sys

import pytest

from smsledger.adapters.runtime.cpu_pinning import CpuPlan


def test_each_http_process_gets_a_cpu_and_the_background_process_the_rest():
    plan = CpuPlan.for_workers(3, available={0, 1, 2, 3, 4, 5, 6, 7})
    assert plan.http == (frozenset({0}), frozenset({1}), frozenset({2}))
    assert plan.background == frozenset({3, 4, 5, 6, 7})


def test_the_cpus_a_cpuset_allows_are_used_in_order():
    plan = CpuPlan.for_workers(1, available={9, 4, 6})
    assert plan.http == (frozenset({4}),)
    assert plan.background == frozenset({6, 9})


def test_more_http_processes_than_cpus_wrap_around_and_leave_the_background_unpinned():
    plan = CpuPlan.for_workers(3, available={0, 1})
    assert plan.http == (frozenset({0}), frozenset({1}), frozenset({0}))
    assert plan.background is None  # every CPU: none is left over for it alone


def test_one_cpu_runs_everything():
    plan = CpuPlan.for_workers(2, available={0})
    assert plan.http == (frozenset({0}), frozenset({0}))
    assert plan.background is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sched_getaffinity: Linux")
def test_by_default_the_plan_uses_the_cpus_this_process_may_run_on():
    allowed = sorted(os.sched_getaffinity(0))
    plan = CpuPlan.for_workers(1)
    assert plan.http == (frozenset({allowed[0]}),)
    assert plan.background == (frozenset(allowed[1:]) or None)
