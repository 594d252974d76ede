"""Prometheus metrics for the pools of this process, per database alias.

Needs the ``prometheus`` extra (``pip install 'django-multipool[prometheus]'``).
Register the collector once, for instance in an ``AppConfig.ready()``::

    from django_multipool.contrib import prometheus

    prometheus.register()  # on prometheus_client's default REGISTRY

Whatever serves that registry (django-prometheus's ``/metrics`` view,
``prometheus_client.make_wsgi_app()``) then exports them. The collector
reads :class:`~django_multipool.PoolStats` at scrape time, so it costs the
pools nothing between scrapes. Labels are the alias and the vendor: never a
host, user or password.

Each worker process has its own pools and answers for them only; counters
start again at 0 when a pool is replaced (settings changed, ``fork()``),
which Prometheus' ``rate()`` and ``increase()`` handle as a counter reset.
docs/monitoring.md says how to scrape a server with several workers.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ..adapter import PoolAdapter, PoolStats
from ..backends.registry import registry as pools

__all__ = ["METRICS", "PoolCollector", "register"]

_LABELS: Final = ("alias", "vendor")

Read = Callable[[PoolStats, PoolAdapter], float]

#: (name, "gauge" | "counter", help, value). Counter names get "_total" when exported.
METRICS: Final[tuple[tuple[str, str, str, Read], ...]] = (
    (
        "django_multipool_pool_min_size",
        "gauge",
        "Connections the pool keeps open even when idle (min_size).",
        lambda s, a: s.pool_min,
    ),
    (
        "django_multipool_pool_max_size",
        "gauge",
        "Most connections the pool may have open (max_size).",
        lambda s, a: s.pool_max,
    ),
    (
        "django_multipool_pool_size",
        "gauge",
        "Connections open or being opened (idle, lent out and connecting).",
        lambda s, a: s.pool_size,
    ),
    (
        "django_multipool_pool_available",
        "gauge",
        "Idle connections ready to be lent.",
        lambda s, a: s.pool_available,
    ),
    (
        "django_multipool_pool_in_use",
        "gauge",
        "Connections lent out now.",
        lambda s, a: a.checked_out,
    ),
    (
        "django_multipool_requests_waiting",
        "gauge",
        "Requests waiting for a connection now.",
        lambda s, a: s.requests_waiting,
    ),
    (
        "django_multipool_requests",
        "counter",
        "Requests for a connection (checkouts).",
        lambda s, a: s.requests_num,
    ),
    (
        "django_multipool_requests_queued",
        "counter",
        "Requests that had to wait for a connection.",
        lambda s, a: s.requests_queued,
    ),
    (
        "django_multipool_requests_wait_seconds",
        "counter",
        "Time requests spent waiting for a connection.",
        lambda s, a: s.requests_wait_ms / 1000,
    ),
    (
        "django_multipool_requests_errors",
        "counter",
        "Requests that timed out (PoolTimeout) or were refused (TooManyRequests).",
        lambda s, a: s.requests_errors,
    ),
    (
        "django_multipool_connections",
        "counter",
        "Connections opened.",
        lambda s, a: s.connections_num,
    ),
    (
        "django_multipool_connections_errors",
        "counter",
        "Failed connection attempts.",
        lambda s, a: s.connections_errors,
    ),
    (
        "django_multipool_connections_lost",
        "counter",
        "Connections found broken by a check, or given back broken.",
        lambda s, a: s.connections_lost,
    ),
    (
        "django_multipool_usage_seconds",
        "counter",
        "Time connections were held by their borrowers.",
        lambda s, a: s.usage_ms / 1000,
    ),
    (
        "django_multipool_leaks_detected",
        "counter",
        "Connections held longer than leak_timeout.",
        lambda s, a: s.leaks_detected,
    ),
    (
        "django_multipool_leaks_reclaimed",
        "counter",
        "Connections taken back from borrowers whose thread had ended.",
        lambda s, a: s.leaks_reclaimed,
    ),
)


class PoolCollector:
    """A prometheus_client collector over every pool open in this process."""

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check names at register() without reading pools.
        return [_family(name, kind, help_text) for name, kind, help_text, _ in METRICS]

    def collect(self) -> Iterable[Metric]:
        families = [
            (_family(name, kind, help_text), read) for name, kind, help_text, read in METRICS
        ]
        for alias, adapter in pools.items():
            stats = adapter.stats()
            labels = [alias, adapter.vendor]
            for family, read in families:
                family.add_metric(labels, read(stats, adapter))
        return [family for family, _ in families]


def _family(name: str, kind: str, help_text: str) -> GaugeMetricFamily | CounterMetricFamily:
    if kind == "counter":
        return CounterMetricFamily(name, help_text, labels=_LABELS)
    return GaugeMetricFamily(name, help_text, labels=_LABELS)


_registered: weakref.WeakKeyDictionary[CollectorRegistry, PoolCollector] = (
    weakref.WeakKeyDictionary()
)
_register_lock = threading.Lock()


def register(registry: CollectorRegistry = REGISTRY) -> PoolCollector:
    """Register a :class:`PoolCollector` on ``registry``, once; return it.

    Calling it again (a second ``ready()``, a test) returns the collector
    already there instead of failing with prometheus_client's duplicate error.
    """
    with _register_lock:
        collector = _registered.get(registry)
        if collector is None:
            collector = PoolCollector()
            registry.register(collector)
            _registered[registry] = collector
        return collector
