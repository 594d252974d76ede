"""OpenTelemetry metrics on real pools of every vendor, read with the SDK's in-memory reader.

The reader collects the way a periodic exporter does; the values it gets are
compared with the pool's own stats, and the names, units and attributes with
the semantic conventions for database client connection pools.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.semconv._incubating.attributes import db_attributes
from opentelemetry.semconv._incubating.metrics import db_metrics

from django_multipool import PoolTimeout
from django_multipool._janitor import janitor
from django_multipool.backends.registry import registry
from django_multipool.contrib import metrics, otel

from .contract.test_pool_contract import wait_until
from .servers import Server
from .test_observability import SECRET, settings_with_secret

pytestmark = pytest.mark.vendor

#: What the conventions say for each pool metric: (instrument, unit).
SEMCONV = {
    db_metrics.DB_CLIENT_CONNECTION_COUNT: ("updowncounter", "{connection}"),
    db_metrics.DB_CLIENT_CONNECTION_MAX: ("updowncounter", "{connection}"),
    db_metrics.DB_CLIENT_CONNECTION_IDLE_MAX: ("updowncounter", "{connection}"),
    db_metrics.DB_CLIENT_CONNECTION_IDLE_MIN: ("updowncounter", "{connection}"),
    db_metrics.DB_CLIENT_CONNECTION_PENDING_REQUESTS: ("updowncounter", "{request}"),
    db_metrics.DB_CLIENT_CONNECTION_TIMEOUTS: ("counter", "{timeout}"),
}

Points = dict[str, dict[frozenset[tuple[str, Any]], float]]


class Reader:
    """A MeterProvider with our instruments and an in-memory reader."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.instruments = otel.instrument(self.provider)
        self.last: Any = None

    def collect(self) -> Points:
        """{metric name: {attributes: value}} for our scope, as one collection exports it."""
        data = self.reader.get_metrics_data()
        self.last = data
        points: Points = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                if scope.scope.name != otel.SCOPE:
                    continue
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        if not hasattr(point, "value"):  # a histogram's: histogram_points()
                            continue
                        key = frozenset(point.attributes.items())
                        points.setdefault(metric.name, {})[key] = point.value
        return points

    def described(self) -> dict[str, Any]:
        """{metric name: the SDK's Metric} of the last collection."""
        found = {}
        for resource in self.last.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = metric
        return found


@pytest.fixture
def reader() -> Iterator[Reader]:
    made = Reader()
    yield made
    made.provider.shutdown()


def of_pool(points: Points, name: str, **state: str) -> dict[str, float]:
    """The values of one pool: {metric name: value}, for one connection state if given."""
    wanted = {(metrics.OTEL_POOL_NAME, name)}
    wanted |= {(metrics.OTEL_STATE, value) for value in state.values()}
    found = {}
    for metric_name, by_attributes in points.items():
        for attributes, value in by_attributes.items():
            if metrics.OTEL_STATE in dict(attributes) and not state:
                continue
            if set(attributes) == wanted:
                found[metric_name] = value
    return found


def test_instruments_follow_the_semantic_conventions(
    vendor: str, make_wrapper: Callable[..., Any], reader: Reader
) -> None:
    wrapper = make_wrapper(alias="otel_conventions", max_size=3)
    wrapper.ensure_connection()
    wrapper.close()
    janitor.sweep()  # hands the histograms their values (about once a second)
    reader.collect()
    described = reader.described()
    for name, (kind, unit) in SEMCONV.items():
        metric = described[name]
        assert metric.unit == unit, name
        # Sums: monotonic for a counter, not for an UpDownCounter; cumulative.
        assert metric.data.is_monotonic == (kind == "counter"), name
        assert metric.data.aggregation_temporality.name == "CUMULATIVE"
    # The conventions' attribute names, spelt as the semconv package spells them.
    assert metrics.OTEL_POOL_NAME == db_attributes.DB_CLIENT_CONNECTION_POOL_NAME
    assert metrics.OTEL_STATE == db_attributes.DB_CLIENT_CONNECTION_STATE
    states = {
        dict(attributes).get(metrics.OTEL_STATE)
        for attributes in reader.collect()[db_metrics.DB_CLIENT_CONNECTION_COUNT]
    }
    assert states == {
        db_attributes.DbClientConnectionStateValues.IDLE.value,
        db_attributes.DbClientConnectionStateValues.USED.value,
    }
    # Every name outside the conventions is ours, and every metric is exported.
    for metric in metrics.METRICS:
        assert metric.otel in described
        assert metric.otel.startswith(("db.client.connection.", "django_multipool."))
    for histogram in metrics.HISTOGRAMS:
        assert described[histogram.otel].unit == histogram.unit == "s"


def test_collection_reads_each_pools_stats(
    vendor: str, server: Server, make_wrapper: Callable[..., Any], reader: Reader
) -> None:
    wrapper = make_wrapper(
        alias="otel_stats",
        min_size=1,
        max_size=3,
        settings=settings_with_secret(vendor, server),
    )
    for _ in range(2):
        wrapper.ensure_connection()
        wrapper.close()
    wrapper.ensure_connection()  # one lent out while collected
    pool = wrapper.pool
    assert wait_until(lambda: (s := pool.stats()).connections_num == s.pool_size)

    points = reader.collect()
    stats = pool.stats()
    values = of_pool(points, pool.name)
    assert values[db_metrics.DB_CLIENT_CONNECTION_MAX] == 3
    assert values[db_metrics.DB_CLIENT_CONNECTION_IDLE_MAX] == 3
    assert values[db_metrics.DB_CLIENT_CONNECTION_IDLE_MIN] == 1
    assert values[db_metrics.DB_CLIENT_CONNECTION_PENDING_REQUESTS] == 0
    assert values[db_metrics.DB_CLIENT_CONNECTION_TIMEOUTS] == 0
    assert values["django_multipool.requests"] == stats.requests_num == 3
    assert values["django_multipool.connections.opened"] == stats.connections_num >= 1
    assert values["django_multipool.pool.size"] == stats.pool_size
    assert values["django_multipool.requests.wait_time"] == stats.requests_wait_ms / 1000
    assert of_pool(points, pool.name, state="used") == {db_metrics.DB_CLIENT_CONNECTION_COUNT: 1}
    assert of_pool(points, pool.name, state="idle") == {
        db_metrics.DB_CLIENT_CONNECTION_COUNT: stats.pool_available
    }
    assert SECRET not in repr(reader.last) and "password" not in repr(reader.last).lower()

    wrapper.close()  # the connection goes back: used 0, one more idle
    points = reader.collect()
    assert of_pool(points, pool.name, state="used")[db_metrics.DB_CLIENT_CONNECTION_COUNT] == 0
    idle = of_pool(points, pool.name, state="idle")[db_metrics.DB_CLIENT_CONNECTION_COUNT]
    assert idle == pool.stats().pool_available == stats.pool_available + 1


def test_a_timeout_is_counted_and_a_waiter_is_pending(
    vendor: str, make_wrapper: Callable[..., Any], reader: Reader
) -> None:
    pool = make_wrapper(alias="otel_timeouts", min_size=1, max_size=1, timeout=0.5).pool
    held = pool.acquire()
    pending: list[float] = []
    errors: list[BaseException] = []

    def wait_in_vain() -> None:
        try:
            pool.release(pool.acquire())
        except PoolTimeout as exc:
            errors.append(exc)

    try:
        waiter = threading.Thread(target=wait_in_vain)
        waiter.start()
        assert wait_until(lambda: pool.stats().requests_waiting == 1)
        pending.append(
            of_pool(reader.collect(), pool.name)[db_metrics.DB_CLIENT_CONNECTION_PENDING_REQUESTS]
        )
        waiter.join(5)
    finally:
        pool.release(held)
    assert pending == [1] and len(errors) == 1
    values = of_pool(reader.collect(), pool.name)
    assert values[db_metrics.DB_CLIENT_CONNECTION_TIMEOUTS] == 1
    assert values[db_metrics.DB_CLIENT_CONNECTION_PENDING_REQUESTS] == 0
    # The first checkout may have waited too, for the pool's first connection.
    assert values["django_multipool.requests.queued"] == pool.stats().requests_queued >= 1
    assert values["django_multipool.requests.wait_time"] >= 0.4


def test_pools_are_named_once_and_closed_pools_are_gone(
    vendor: str, make_wrapper: Callable[..., Any], reader: Reader
) -> None:
    first = make_wrapper(alias="otel_a", name="shared").pool
    second = make_wrapper(alias="otel_b", name="shared").pool
    names = {
        dict(attributes)[metrics.OTEL_POOL_NAME]
        for attributes in reader.collect()[db_metrics.DB_CLIENT_CONNECTION_MAX]
    }
    assert {"shared", "shared (otel_b)"} <= names
    assert first.name == second.name == "shared"

    registry.close("otel_b")
    names = {
        dict(attributes)[metrics.OTEL_POOL_NAME]
        for attributes in reader.collect()[db_metrics.DB_CLIENT_CONNECTION_MAX]
    }
    assert "shared" in names and "shared (otel_b)" not in names


def test_instrument_once_per_provider(reader: Reader) -> None:
    assert otel.instrument(reader.provider) is reader.instruments
    other = MeterProvider(metric_readers=[InMemoryMetricReader()])
    try:
        assert otel.instrument(other) is not reader.instruments
    finally:
        other.shutdown()


def test_histograms_get_a_value_per_connect_checkout_and_loan(
    vendor: str, make_wrapper: Callable[..., Any], reader: Reader
) -> None:
    """create_time, wait_time and use_time: one recorded value per event, in seconds."""
    wrapper = make_wrapper(alias="otel_histograms", min_size=0, max_size=2)
    for _ in range(3):  # three checkouts and loans; the first opens the connection
        wrapper.ensure_connection()
        time.sleep(0.02)
        wrapper.close()
    pool = wrapper.pool
    janitor.sweep()  # what the janitor does about once a second

    points = histogram_points(reader, pool.name)
    assert points["db.client.connection.wait_time"][0] == 3
    assert points["db.client.connection.use_time"][0] == 3
    assert points["db.client.connection.use_time"][1] >= 3 * 0.02  # seconds, not ms
    assert points["db.client.connection.create_time"][0] == pool.stats().connections_num == 1
    assert 0 < points["db.client.connection.create_time"][1] < 10

    wrapper.ensure_connection()
    wrapper.close()
    janitor.sweep()
    points = histogram_points(reader, pool.name)
    assert points["db.client.connection.wait_time"][0] == 4  # cumulative: one more


def test_a_pool_nobody_instruments_gathers_no_timings(
    vendor: str, make_wrapper: Callable[..., Any]
) -> None:
    wrapper = make_wrapper(alias="otel_uninstrumented", max_size=1)
    wrapper.ensure_connection()
    wrapper.close()
    assert wrapper.pool._ledger.timings is None


def histogram_points(reader: Reader, pool_name: str) -> dict[str, tuple[int, float]]:
    """{histogram name: (count, sum)} of one pool, from a fresh collection."""
    data = reader.reader.get_metrics_data()
    found = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name not in {h.otel for h in metrics.HISTOGRAMS}:
                    continue
                for point in metric.data.data_points:
                    if dict(point.attributes).get(metrics.OTEL_POOL_NAME) == pool_name:
                        found[metric.name] = (point.count, point.sum)
    return found
