"""The one owner of what a forked child does first, in one documented order.

``os.register_at_fork`` runs handlers in the order they were registered,
which would be the order modules happen to be imported in. So every module
that must act after a ``fork()`` hands its step to :func:`after_fork_in_child`
under a stage, and the single handler here runs the stages in this order:

1. ``"threads"``: the process's own helper threads (the watchdog, the
   janitor) did not survive the fork, and their locks may have been held by
   them: each forgets its thread and replaces its lock. Later stages may
   then take those locks.
2. ``"drivers"``: driver objects whose finalisers would talk to the server
   or shut a shared socket down are made inert (python-oracledb's pools and
   the connections they lent), before anything lets go of them.
3. ``"pools"``: the registry drops the parent's pools (each adapter's
   ``_forget_after_fork()``), and every wrapper the connection it held.

No step does I/O: the parent's connections are its sessions, not the child's.
Within a stage, steps run in the order they were added.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

__all__ = ["STAGES", "after_fork_in_child"]

Stage = Literal["threads", "drivers", "pools"]

#: The stages, in the order they run.
STAGES: tuple[Stage, ...] = ("threads", "drivers", "pools")

_steps: dict[Stage, list[Callable[[], None]]] = {stage: [] for stage in STAGES}


def after_fork_in_child(stage: Stage, step: Callable[[], None]) -> None:
    """Run ``step`` in every forked child, in ``stage`` (see the module's docstring)."""
    _steps[stage].append(step)


def _run_in_child() -> None:
    for stage in STAGES:
        for step in _steps[stage]:
            step()


os.register_at_fork(after_in_child=_run_in_child)
