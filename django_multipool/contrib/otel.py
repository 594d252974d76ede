"""OpenTelemetry metrics for the pools of this process.

Needs the ``otel`` extra (``pip install 'django-multipool[otel]'``, which
brings ``opentelemetry-api``) and an SDK configured by the application, as
OpenTelemetry intends: a library only asks the API for a meter. Call once
per process, for instance in an ``AppConfig.ready()``::

    from django_multipool.contrib import otel

    otel.instrument()  # on the global MeterProvider

The gauges and counters are observable: the SDK reads every pool's
:class:`~django_multipool.PoolStats` when its reader collects, so they cost
the pools nothing in between. The three histograms (``create_time``,
``wait_time``, ``use_time``) need a value per event: each pool gathers them
in bounded deques (:mod:`django_multipool.timings`) and the janitor thread
records them about once a second. Names follow the semantic conventions for
database client connection pools (``db.client.connection.count`` by
``db.client.connection.state``, ``.max``, ``.idle.max``, ``.idle.min``,
``.pending_requests``, ``.timeouts`` and the histograms), with the pool's
name in ``db.client.connection.pool.name``; what the conventions do not
name is exported under ``django_multipool.``. The table is
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
from opentelemetry.metrics import (
    CallbackOptions,
    Histogram,
    Instrument,
    MeterProvider,
    Observation,
)

from .. import signals
from ..adapter import PoolAdapter, PoolStats
from ..backends.registry import registry as pools
from .metrics import HISTOGRAMS, METRICS, OTEL_POOL_NAME, Metric

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


def _unique_name(alias: str, adapter: PoolAdapter) -> str:
    """The pool's name as :func:`open_pools` reports it, for a pool just opened."""
    taken = any(other.name == adapter.name for a, other in pools.items() if a != alias)
    return f"{adapter.name} ({alias})" if taken else adapter.name


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
        self.histograms: dict[str, Histogram] = {
            row.kind: meter.create_histogram(row.otel, unit=row.unit, description=row.description)
            for row in HISTOGRAMS
        }
        # Every pool open now, and each one opened later, gathers its timings
        # (weakly connected: instruments whose provider is gone stop here).
        signals.pool_opened.connect(self._pool_opened)
        for alias, adapter in pools.items():
            self.record_timings_of(alias, adapter)

    def record_timings_of(self, alias: str, adapter: PoolAdapter) -> None:
        """Have ``adapter`` gather the histograms' durations for these instruments."""
        attributes = {OTEL_POOL_NAME: _unique_name(alias, adapter)}
        histograms = self.histograms

        def record(kind: str, seconds: list[float]) -> None:  # the janitor's thread
            histogram = histograms[kind]
            for value in seconds:
                histogram.record(value, attributes)

        adapter.record_timings(record)

    def _pool_opened(
        self, sender: object, *, alias: str, pool: PoolAdapter, **kwargs: Any
    ) -> None:
        self.record_timings_of(alias, pool)


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
