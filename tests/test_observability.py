"""Logs, signals and the Prometheus collector, on real pools of every vendor.

The collector is scraped over HTTP the way Prometheus does it, and the values
it serves are compared with the pool's own stats.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from django_multipool import signals
from django_multipool.backends.registry import registry
from django_multipool.contrib import prometheus

from .contract.test_pool_contract import wait_until
from .servers import Server

pytestmark = pytest.mark.vendor

SECRET = "multipool-observability-SECRET-31337"


def settings_with_secret(vendor: str, server: Server) -> dict[str, Any]:
    """A PASSWORD to look for in every output. PostgreSQL here trusts local
    clients, so any password connects; the MariaDB root has none to vary."""
    if vendor == "postgresql" and not server.password:
        return {"PASSWORD": SECRET}
    return {}


# -- Prometheus ----------------------------------------------------------------------------


@pytest.fixture
def scrape() -> Iterator[Callable[[], tuple[str, dict[tuple[str, str], dict[str, float]]]]]:
    """Serve a registry with our collector on a free port; scrape() GETs /metrics."""
    metrics_registry = CollectorRegistry()
    assert prometheus.register(metrics_registry) is prometheus.register(metrics_registry)
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=metrics_registry)
    url = f"http://127.0.0.1:{httpd.server_port}/metrics"

    def get() -> tuple[str, dict[tuple[str, str], dict[str, float]]]:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        samples: dict[tuple[str, str], dict[str, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("django_multipool_"):
                    key = (sample.labels["alias"], sample.labels["vendor"])
                    samples.setdefault(key, {})[sample.name] = sample.value
                    assert set(sample.labels) == {"alias", "vendor"}
        return text, samples

    yield get
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_scrape_serves_each_pools_stats(
    vendor: str, server: Server, make_wrapper: Callable[..., Any], scrape: Any
) -> None:
    wrapper = make_wrapper(
        alias="metrics", max_size=3, settings=settings_with_secret(vendor, server)
    )
    for _ in range(2):
        wrapper.ensure_connection()
        wrapper.close()
    wrapper.ensure_connection()  # one lent out while scraped
    pool = wrapper.pool
    # The first checkout waited for the pool's first connection, so
    # psycopg_pool grows by one in the background: let it finish, or the
    # scrape and stats() below may see different connections_num.
    assert wait_until(lambda: (s := pool.stats()).connections_num == s.pool_size)

    text, samples = scrape()
    stats = pool.stats()
    metrics = samples[("metrics", vendor)]
    assert metrics["django_multipool_pool_max_size"] == 3
    assert metrics["django_multipool_pool_min_size"] == stats.pool_min
    assert metrics["django_multipool_pool_in_use"] == 1
    assert metrics["django_multipool_requests_total"] == stats.requests_num == 3
    assert metrics["django_multipool_requests_errors_total"] == 0
    assert metrics["django_multipool_connections_total"] == stats.connections_num >= 1
    assert metrics["django_multipool_requests_waiting"] == 0
    for metric in prometheus.METRICS:
        assert metric.prometheus_exported_name in metrics
        assert metrics[metric.prometheus_exported_name] == metric.read(stats, pool)
    assert SECRET not in text and "password" not in text.lower()

    wrapper.close()
    registry.close("metrics")
    _, samples = scrape()
    assert ("metrics", vendor) not in samples  # a closed pool is no longer exported


# -- log records ------------------------------------------------------------------------------


def test_pool_life_cycle_is_logged_without_secrets(
    vendor: str, server: Server, make_wrapper: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="django_multipool")
    wrapper = make_wrapper(alias="logged", settings=settings_with_secret(vendor, server))
    wrapper.ensure_connection()
    wrapper.close()
    # A settings change retires the pool (as create_test_db() does).
    wrapper.settings_dict["OPTIONS"]["pool"] = {"max_size": 2}
    wrapper.ensure_connection()
    wrapper.close()
    wrapper.close_pool()

    ours = [r for r in caplog.records if r.name.startswith("django_multipool")]
    messages = [r.getMessage() for r in ours]
    opened = [m for m in messages if m.startswith("opened <") and "'logged'" in m]
    assert len(opened) == 2
    assert "max_size=2" in opened[1]
    closed = [m for m in messages if m.startswith("closed <") and "'logged'" in m]
    assert [m.rsplit("(", 1)[1] for m in closed] == ["settings changed)", "close pool)"]
    assert all(r.levelno == logging.INFO for r in ours if r.getMessage() in opened + closed)
    assert not any(SECRET in m for m in messages)


def test_a_timeout_is_a_warning(
    vendor: str, make_wrapper: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="django_multipool")
    pool = make_wrapper(alias="starved", max_size=1, timeout=0.2).pool
    conn = pool.acquire()
    try:
        with pytest.raises(Exception, match="couldn't get a connection from pool 'starved'"):
            pool.acquire()
    finally:
        pool.release(conn)
    [record] = [r for r in caplog.records if "from pool 'starved'" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.name == "django_multipool"


def test_a_connection_that_fails_its_check_is_a_lost_connection_warning(
    vendor: str, probe: Any, make_wrapper: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="django_multipool")
    pool = make_wrapper(alias="killed", min_size=1, max_size=1, check=True).pool
    conn = pool.acquire()
    with conn.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        backend_id = cursor.fetchone()[0]
    pool.release(conn)
    probe.kill(backend_id)
    time.sleep(0.2)  # as the contract suite: the server ends the session
    conn = pool.acquire()  # the check finds the dead one and replaces it
    pool.release(conn)
    assert pool.stats().connections_lost >= 1
    lost = [
        r
        for r in caplog.records
        if "pool 'killed'" in r.getMessage()
        and ("check" in r.getMessage() or "broken" in r.getMessage())
    ]
    assert lost and all(r.levelno == logging.WARNING for r in lost)


# -- signals ------------------------------------------------------------------------------------


def test_signals_tell_when_pools_open_and_close_not_per_checkout(
    vendor: str, make_wrapper: Callable[..., Any]
) -> None:
    events: list[tuple[str, str, Any, str | None]] = []

    def on_opened(sender: type, alias: str, pool: Any, **kwargs: Any) -> None:
        assert sender is type(pool)
        events.append(("opened", alias, pool, None))

    def on_closed(sender: type, alias: str, pool: Any, reason: str, **kwargs: Any) -> None:
        assert pool.closed
        events.append(("closed", alias, pool, reason))

    def broken_receiver(**kwargs: Any) -> None:
        raise RuntimeError("a metrics backend is down")

    signals.pool_opened.connect(on_opened)
    signals.pool_opened.connect(broken_receiver)
    signals.pool_closed.connect(on_closed)
    try:
        wrapper = make_wrapper(alias="signalled")
        for _ in range(5):  # checkouts send nothing
            wrapper.ensure_connection()
            wrapper.close()
        first = wrapper.pool
        wrapper.settings_dict["OPTIONS"]["pool"] = {"max_size": 4}
        wrapper.ensure_connection()
        wrapper.close()
        second = wrapper.pool
        wrapper.close_pool()
    finally:
        signals.pool_opened.disconnect(on_opened)
        signals.pool_opened.disconnect(broken_receiver)
        signals.pool_closed.disconnect(on_closed)
    mine = [e for e in events if e[1] == "signalled"]
    assert mine == [
        ("opened", "signalled", first, None),
        ("opened", "signalled", second, None),
        ("closed", "signalled", first, signals.SETTINGS_CHANGED),
        ("closed", "signalled", second, signals.CLOSE_POOL),
    ]
