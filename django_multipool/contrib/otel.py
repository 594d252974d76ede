"""OpenTelemetry metrics for the pools of this process.

Needs the ``otel`` extra (``pip install 'django-multipool[otel]'``, which
brings ``opentelemetry-api``) and an SDK configured by the application, as
OpenTelemetry intends: a library only asks the API for a meter. Call once
per process, for instance in an ``AppConfig.ready()``::

    from django_multipool.contrib import otel

    otel.instrument()  # on the global MeterProvider

The instruments are observable: the SDK reads every pool's
:class:`~django_multipool.PoolStats` when its reader collects, so they cost
the pools nothing in between. Names follow the semantic conventions for
database client connection pools (``db.client.connection.count`` by
``db.client.connection.state``, ``.max``, ``.idle.max``, ``.idle.min``,
``.pending_requests``, ``.timeouts``), with the pool's name in
``db.client.connection.pool.name``; what the conventions do not name is
exported under ``django_multipool.``. The table is
:data:`django_multipool.contrib.metrics.METRICS`, which docs/monitoring.md
prints. Attributes never hold a host, user or password.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Instrument, MeterProvider, Observation

from ..adapter import PoolAdapter, PoolStats
from ..backends.registry import registry as pools
from .metrics import METRICS, OTEL_POOL_NAME, Metric

__all__ = ["SCOPE", "PoolInstruments", "instrument"]

#: The instrumentation scope (meter name) the instruments belong to.
SCOPE: Final = "django_multipool"


def _package_version() -> str:
    try:
        return version("django-multipool")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return ""


def open_pools() -> Iterator[tuple[str, PoolAdapter, PoolStats]]:
    """``(pool name, adapter, stats)`` for each pool open in this process.

    The conventions want a pool name unique in the application; two aliases
    given one ``OPTIONS["pool"]["name"]`` would report as one pool, each
    hiding the other, so a repeated name gets its alias: ``name (alias)``.
    """
    seen: set[str] = set()
    for alias, adapter in pools.items():
        name = adapter.name
        if name in seen:
            name = f"{name} ({alias})"
        seen.add(name)
        yield name, adapter, adapter.stats()


class PoolInstruments:
    """The observable instruments of one MeterProvider, one per metric name."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter(SCOPE, _package_version(), meter_provider=meter_provider)
        by_name: dict[str, list[Metric]] = {}
        for metric in METRICS:
            if metric.otel is not None:
                by_name.setdefault(metric.otel, []).append(metric)
        self.instruments: dict[str, Instrument] = {}
        for name, rows in by_name.items():
            first = rows[0]
            # The conventions make every gauge of a pool an UpDownCounter:
            # connections add up across pools, which a Gauge would not say.
            create: Callable[..., Instrument] = (
                meter.create_observable_counter
                if first.kind == "counter"
                else meter.create_observable_up_down_counter
            )
            self.instruments[name] = create(
                name,
                callbacks=[_observe(tuple(rows))],
                unit=first.unit,
                description=" ".join(dict.fromkeys(row.description for row in rows)),
            )


def _observe(rows: tuple[Metric, ...]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        observations = []
        for name, adapter, stats in open_pools():
            for row in rows:
                attributes: dict[str, Any] = {OTEL_POOL_NAME: name, **row.otel_attributes}
                observations.append(Observation(row.read(stats, adapter), attributes))
        return observations

    return callback


_instrumented: weakref.WeakKeyDictionary[MeterProvider, PoolInstruments] = (
    weakref.WeakKeyDictionary()
)
_instrument_lock = threading.Lock()


def instrument(meter_provider: MeterProvider | None = None) -> PoolInstruments:
    """Create the pool instruments on ``meter_provider`` (default: the global one), once.

    Calling it again with the same provider (a second ``ready()``, a test)
    returns the instruments already there rather than registering each
    callback twice, which would report every pool twice.
    """
    key = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _instrument_lock:
        instruments = _instrumented.get(key)
        if instruments is None:
            instruments = PoolInstruments(meter_provider)
            _instrumented[key] = instruments
        return instruments
