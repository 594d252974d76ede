"""The metrics reference and the PoolStats table, read from ``django_multipool.contrib.metrics``.

Both exporters (Prometheus, OpenTelemetry) read the same table, so the
pages that list their metrics and PoolStats' keys are rendered from it
too. No Sphinx here: ``tests/unit/test_metrics_table.py`` checks what these
functions render, and ``multipool_docs.py`` puts it in the pages.
"""

from __future__ import annotations

import dataclasses

from django_multipool.adapter import PoolStats
from django_multipool.contrib.metrics import CHECKED_OUT, HISTOGRAMS, METRICS, Metric

__all__ = ["render_histograms", "render_metrics", "render_stats"]


def _otel(metric: Metric) -> str:
    if metric.otel is None:
        return "—"
    attributes = "".join(f" `{k}={v}`" for k, v in metric.otel_attributes.items())
    return f"`{metric.otel}`{attributes}"


def _meaning(metric: Metric) -> str:
    return f"{metric.description} {metric.details}".strip()


def _source(metric: Metric) -> str:
    if metric.source == CHECKED_OUT:
        return "the adapter's `checked_out`"
    return f"`{metric.source}`" + (" (ms, exported in s)" if metric.per != 1 else "")


def render_metrics() -> str:
    """One row per exported number: its Prometheus and OpenTelemetry names, unit and meaning."""
    out = [
        "| Prometheus | OpenTelemetry | kind | unit | meaning | PoolStats key |",
        "|---|---|---|---|---|---|",
    ]
    for metric in METRICS:
        prometheus = metric.prometheus_exported_name
        out.append(
            f"| {f'`{prometheus}`' if prometheus else '—'} | {_otel(metric)} | {metric.kind} "
            f"| `{metric.unit}` | {_cell(_meaning(metric))} | {_source(metric)} |"
        )
    return "\n".join(out) + "\n"


def render_histograms() -> str:
    """One row per histogram: its OpenTelemetry name, unit and meaning."""
    out = ["| OpenTelemetry | unit | meaning |", "|---|---|---|"]
    for histogram in HISTOGRAMS:
        meaning = f"{histogram.description} {histogram.details}".strip()
        out.append(f"| `{histogram.otel}` | `{histogram.unit}` | {_cell(meaning)} |")
    return "\n".join(out) + "\n"


def render_stats() -> str:
    """One row per PoolStats field: kind, unit, meaning, and the metrics that export it."""
    out = ["| key | kind | unit | meaning | exported as |", "|---|---|---|---|---|"]
    for field in dataclasses.fields(PoolStats):
        rows = [metric for metric in METRICS if metric.source == field.name]
        if not rows:
            raise ValueError(f"PoolStats.{field.name} is in no row of contrib.metrics.METRICS")
        first = rows[0]
        unit = "ms" if first.per != 1 else first.unit
        names = []
        for metric in rows:
            if metric.prometheus:
                names.append(f"`{metric.prometheus_exported_name}`")
            if metric.otel:
                names.append(_otel(metric))
        out.append(
            f"| `{field.name}` | {first.kind} | `{unit}` | {_cell(_meaning(first))} "
            f"| {', '.join(names)} |"
        )
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
