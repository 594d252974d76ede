"""Sphinx extension for the django-multipool docs.

Two directives render the configuration reference from
``django_multipool.config.PoolConfig`` (see ``pool_reference.py``), so the
page cannot disagree with the code and is rebuilt whenever ``config.py``
changes:

- ``{pool-options-summary}``: a table, one row per option;
- ``{pool-options}``: a section per option (``:heading: ###`` sets the level).

They are two directives, not one, because a heading generated inside a
directive becomes a section of the page: anything else the directive
returned would follow the last section instead of preceding the first.

Three more render the table of ``django_multipool.contrib.metrics`` (see
``metrics_reference.py``), which both exporters read:

- ``{pool-metrics}``: every metric, its Prometheus and OpenTelemetry names;
- ``{pool-histograms}``: the conventions' histograms, gathered on request;
- ``{pool-stats}``: PoolStats' keys, each with the metrics that export it.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import metrics_reference
import pool_reference
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class _PoolConfigDirective(SphinxDirective):
    has_content = False

    def markdown(self, config_class: type) -> str:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        from django_multipool.config import PoolConfig

        self.env.note_dependency(inspect.getfile(PoolConfig))
        problems = pool_reference.missing_documentation(PoolConfig)
        if problems:
            raise self.error(
                "django_multipool.config.PoolConfig fields lack documentation:\n"
                + "\n".join(problems)
            )
        container = nodes.container()
        source = self.get_source_info()[0]
        lines = StringList(self.markdown(PoolConfig).splitlines(), source=source)
        self.state.nested_parse(lines, 0, container, match_titles=True)
        return container.children


class PoolOptionsSummary(_PoolConfigDirective):
    """Every ``OPTIONS["pool"]`` key in one table."""

    def markdown(self, config_class: type) -> str:
        return pool_reference.render_summary(config_class)


class PoolOptions(_PoolConfigDirective):
    """Every ``OPTIONS["pool"]`` key in a section of its own."""

    option_spec: ClassVar[dict[str, Any]] = {"heading": directives.unchanged_required}

    def markdown(self, config_class: type) -> str:
        return pool_reference.render_sections(config_class, self.options.get("heading", "###"))


class _MetricsDirective(SphinxDirective):
    has_content = False
    render: ClassVar[Any]

    def run(self) -> list[nodes.Node]:
        from django_multipool.contrib import metrics

        self.env.note_dependency(inspect.getfile(metrics))
        container = nodes.container()
        source = self.get_source_info()[0]
        lines = StringList(type(self).render().splitlines(), source=source)
        self.state.nested_parse(lines, 0, container)
        return container.children


class PoolMetrics(_MetricsDirective):
    """Every exported metric: Prometheus and OpenTelemetry names, kind, unit, meaning."""

    render = staticmethod(metrics_reference.render_metrics)


class PoolHistograms(_MetricsDirective):
    """The conventions' histograms: name, unit, meaning."""

    render = staticmethod(metrics_reference.render_histograms)


class PoolStatsTable(_MetricsDirective):
    """PoolStats' keys, with the metrics that export each."""

    render = staticmethod(metrics_reference.render_stats)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("pool-options-summary", PoolOptionsSummary)
    app.add_directive("pool-options", PoolOptions)
    app.add_directive("pool-metrics", PoolMetrics)
    app.add_directive("pool-histograms", PoolHistograms)
    app.add_directive("pool-stats", PoolStatsTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
