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
from collections.abc import Iterable
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.core import Metric as PrometheusMetric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ..backends.registry import registry as pools
from .metrics import METRICS as ALL_METRICS
from .metrics import Metric

__all__ = ["METRICS", "PoolCollector", "register"]

_LABELS: Final = ("alias", "vendor")

#: The metrics of :data:`~django_multipool.contrib.metrics.METRICS` that have a Prometheus name.
METRICS: Final[tuple[Metric, ...]] = tuple(m for m in ALL_METRICS if m.prometheus)


class PoolCollector:
    """A prometheus_client collector over every pool open in this process."""

    def describe(self) -> Iterable[PrometheusMetric]:
        # Lets the registry check names at register() without reading pools.
        return [_family(metric) for metric in METRICS]

    def collect(self) -> Iterable[PrometheusMetric]:
        families = [(_family(metric), metric) for metric in METRICS]
        for alias, adapter in pools.items():
            stats = adapter.stats()
            labels = [alias, adapter.vendor]
            for family, metric in families:
                family.add_metric(labels, metric.read(stats, adapter))
        return [family for family, _ in families]


def _family(metric: Metric) -> GaugeMetricFamily | CounterMetricFamily:
    assert metric.prometheus is not None
    if metric.kind == "counter":
        return CounterMetricFamily(metric.prometheus, metric.description, labels=_LABELS)
    return GaugeMetricFamily(metric.prometheus, metric.description, labels=_LABELS)


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
