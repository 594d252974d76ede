"""After fork(), one handler runs every module's step in the documented stage order."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from django_multipool import _fork
from django_multipool._fork import STAGES, after_fork_in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")


def test_the_stages_are_threads_then_drivers_then_pools() -> None:
    assert STAGES == ("threads", "drivers", "pools")


def test_the_librarys_own_steps_are_registered_under_their_stage() -> None:
    # Imported for their registrations: the watchdog and janitor threads,
    # python-oracledb's pools, the registry and its wrappers.
    import django_multipool._watchdog
    import django_multipool.adapters.oracledb
    import django_multipool.backends.registry  # noqa: F401

    names = {
        stage: [getattr(step, "__qualname__", repr(step)) for step in _fork._steps[stage]]
        for stage in STAGES
    }
    assert "_Watchdog._reset" in names["threads"]
    assert "_Janitor.forget_after_fork" in names["threads"]
    assert "_abandon_inherited_pools" in names["drivers"]
    assert "_after_fork_in_child" in names["pools"]


def test_a_child_runs_the_steps_in_stage_order_whatever_the_order_they_came_in() -> None:
    read_end, write_end = os.pipe()

    def step(name: str) -> Callable[[], None]:
        return lambda: os.write(write_end, name.encode() + b"\n")

    # Registered last stage first: they run in the stages' order, not this one.
    added = [("pools", step("pools")), ("drivers", step("drivers")), ("threads", step("threads"))]
    for stage, work in added:
        after_fork_in_child(stage, work)  # type: ignore[arg-type]
    try:
        pid = os.fork()
        if pid == 0:  # the child: its steps have run; leave at once
            os._exit(0)
    finally:
        # Never left behind: a later fork would write to a reused descriptor.
        for stage, work in added:
            _fork._steps[stage].remove(work)  # type: ignore[index]
        os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        lines = pipe.read().split()
    assert os.waitstatus_to_exitcode(status) == 0
    assert lines == ["threads", "drivers", "pools"], lines
