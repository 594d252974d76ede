"""Per-event durations for histograms, gathered only when something asks.

:class:`~django_multipool.PoolStats` keeps totals. A histogram (the
OpenTelemetry conventions' ``db.client.connection.wait_time``, ``.use_time``
and ``.create_time``) needs each event. When a recorder asks
(:meth:`PoolAdapter.record_timings <django_multipool.adapter.PoolAdapter.record_timings>`),
the pool appends each duration to a bounded deque: no lock and no I/O, and
on a checkout's path one clock read and one append. The janitor hands what
gathered to the recorder once a sweep, on its own thread.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

__all__ = ["KINDS", "Timings"]

logger = logging.getLogger("django_multipool")

#: The kinds of duration, as the sink is told them.
KINDS = ("wait_time", "use_time", "create_time")
#: Durations of one kind kept between two sweeps; beyond, the oldest go.
KEPT = 10_000

#: What receives the durations (seconds) of one kind gathered since the last sweep.
Sink = Callable[[str, list[float]], None]


class Timings:
    """The durations one pool gathered since the janitor's last sweep."""

    __slots__ = ("connects", "sinks", "uses", "waits")

    def __init__(self) -> None:
        #: Who receives them (one per recorder: a MeterProvider each, say).
        self.sinks: list[Sink] = []
        #: How long each checkout waited (``acquire()``, not a parked retake).
        self.waits: deque[float] = deque(maxlen=KEPT)
        #: How long each loan lasted, from checkout to return.
        self.uses: deque[float] = deque(maxlen=KEPT)
        #: How long each new connection took to open and set up.
        self.connects: deque[float] = deque(maxlen=KEPT)

    def drain(self) -> None:
        """Hand what gathered to the sink, one call per kind (the janitor's thread)."""
        for kind, gathered in zip(KINDS, (self.waits, self.uses, self.connects), strict=True):
            values = []
            while gathered:
                try:
                    values.append(gathered.popleft())
                except IndexError:  # emptied by another drain
                    break
            for sink in self.sinks if values else ():
                try:
                    sink(kind, values)
                except Exception:
                    logger.exception("a pool's timings recorder failed")
