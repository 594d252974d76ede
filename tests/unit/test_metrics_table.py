"""The one table of pool metrics: complete, unambiguous, and what the docs render.

``django_multipool.contrib.metrics.METRICS`` feeds the Prometheus collector,
the OpenTelemetry instruments, the PoolStats table of docs/configuration.md
and the metrics reference of docs/monitoring.md (docs/_ext/metrics_reference.py).
"""

from __future__ import annotations

import dataclasses
import re
from types import ModuleType

import pytest

from django_multipool import PoolStats
from django_multipool.contrib.metrics import CHECKED_OUT, HISTOGRAMS, METRICS, OTEL_STATE

from .test_docs_reference import DOCS, _load

#: The semantic conventions' connection-pool metrics (database-metrics.md).
SEMCONV_POOL_METRICS = {
    "db.client.connection.count",
    "db.client.connection.idle.max",
    "db.client.connection.idle.min",
    "db.client.connection.max",
    "db.client.connection.pending_requests",
    "db.client.connection.timeouts",
    "db.client.connection.create_time",
    "db.client.connection.wait_time",
    "db.client.connection.use_time",
}


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return _load(DOCS / "_ext" / "metrics_reference.py", "multipool_metrics_reference")


def test_every_poolstats_field_is_a_metric() -> None:
    fields = {field.name for field in dataclasses.fields(PoolStats)}
    assert {metric.source for metric in METRICS} == fields | {CHECKED_OUT}


def test_names_are_unique_in_each_system_and_well_formed() -> None:
    prometheus = [metric.prometheus for metric in METRICS if metric.prometheus]
    assert len(prometheus) == len(set(prometheus))
    otel = [(metric.otel, tuple(metric.otel_attributes.items())) for metric in METRICS]
    assert len(otel) == len(set(otel))
    for metric in METRICS:
        assert metric.kind in ("gauge", "counter")
        assert metric.prometheus is None or re.fullmatch(
            r"django_multipool_[a-z_]+", metric.prometheus
        )
        assert metric.otel is not None
        # The conventions' names, or ours, under our namespace.
        assert re.fullmatch(r"(db\.client\.connection|django_multipool)(\.[a-z_]+)+", metric.otel)
        # Seconds where PoolStats counts ms; otherwise a UCUM annotation ({connection}).
        assert metric.unit == "s" if metric.per != 1 else metric.unit.startswith("{")
        # Rows sharing an OpenTelemetry name are one instrument: same kind and unit.
        same = {(m.kind, m.unit) for m in METRICS if m.otel == metric.otel}
        assert same == {(metric.kind, metric.unit)}


def test_every_semantic_convention_is_exported() -> None:
    exported = {m.otel for m in METRICS if m.otel and m.otel.startswith("db.")}
    histograms = {h.otel for h in HISTOGRAMS}
    assert exported | histograms == SEMCONV_POOL_METRICS
    assert not exported & histograms
    states = {
        m.otel_attributes.get(OTEL_STATE)
        for m in METRICS
        if m.otel == "db.client.connection.count"
    }
    assert states == {"idle", "used"}


def test_the_reference_has_a_row_per_metric(reference: ModuleType) -> None:
    rows = reference.render_metrics().splitlines()[2:]
    assert len(rows) == len(METRICS)
    for metric, row in zip(METRICS, rows, strict=True):
        if metric.prometheus:
            assert row.startswith(f"| `{metric.prometheus_exported_name}` |")
        assert f"`{metric.otel}`" in row and f"`{metric.unit}`" in row
        assert metric.description in row


def test_the_stats_table_has_a_row_per_poolstats_field(reference: ModuleType) -> None:
    rows = reference.render_stats().splitlines()[2:]
    names = [re.match(r"\| `(\w+)` \|", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert names == [field.name for field in dataclasses.fields(PoolStats)]
    wait = rows[names.index("requests_wait_ms")]
    assert "| `ms` |" in wait and "`django_multipool_requests_wait_seconds_total`" in wait


def test_the_pages_render_the_table_instead_of_copying_it() -> None:
    monitoring = (DOCS / "monitoring.md").read_text()
    assert "```{pool-metrics}" in monitoring and "```{pool-histograms}" in monitoring
    configuration = (DOCS / "configuration.md").read_text()
    assert "```{pool-stats}" in configuration.split("## Statistics", 1)[1]
    # No hand-written copy of a row left to drift.
    assert not re.search(r"^\| `django_multipool_\w+` \| (gauge|counter) \|", monitoring, re.M)
    assert not re.search(r"^\| `requests_num` \|", configuration, re.M)
