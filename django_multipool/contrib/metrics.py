"""The metrics of a pool, defined once for every exporter and for the docs.

Each :class:`Metric` is one number read from a pool's
:class:`~django_multipool.PoolStats` (or the adapter) and how each system
names it: the Prometheus collector (:mod:`.prometheus`), the OpenTelemetry
instruments (:mod:`.otel`) and the reference table in docs/monitoring.md
(rendered from :data:`METRICS` by docs/_ext) all read this table, so a
metric cannot be exported under one name and documented under another.

OpenTelemetry names follow the semantic conventions for database client
connection pools (``db.client.connection.*``) where they define the number;
the others are ours, under ``django_multipool.``. The conventions' three
histograms (``create_time``, ``wait_time``, ``use_time``) need a value per
event, which a pool gathers only once an exporter asks for it
(:data:`HISTOGRAMS`, :mod:`django_multipool.timings`).

No third-party import here: the docs build and the unit tests read it
without either exporter installed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from ..adapter import PoolAdapter, PoolStats

__all__ = [
    "CHECKED_OUT",
    "HISTOGRAMS",
    "METRICS",
    "OTEL_POOL_NAME",
    "OTEL_STATE",
    "Histogram",
    "Metric",
]

#: The attribute every OpenTelemetry observation carries: the pool's name
#: (``OPTIONS["pool"]["name"]``, else the alias), unique in the process.
OTEL_POOL_NAME: Final = "db.client.connection.pool.name"
#: ``idle`` or ``used``, on ``db.client.connection.count``.
OTEL_STATE: Final = "db.client.connection.state"

#: Read from the adapter rather than PoolStats: connections lent out now.
#: ``PoolStats.in_use`` (size - available) also counts those being opened.
CHECKED_OUT: Final = "checked_out"

Kind = Literal["gauge", "counter"]


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    """One number of a pool, and its name in each system that exports it."""

    #: The PoolStats field it reads, or :data:`CHECKED_OUT`.
    source: str
    #: "gauge" (a value now) or "counter" (a total since the pool opened).
    kind: Kind
    #: UCUM, as OpenTelemetry writes units: ``{connection}``, ``s``.
    unit: str
    description: str
    #: Prometheus name, without the ``_total`` a counter gets; None: not exported.
    prometheus: str | None
    #: OpenTelemetry instrument name; None: not exported.
    otel: str | None
    #: Attributes besides the pool's name (``db.client.connection.state``).
    otel_attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Source units per ``unit`` (PoolStats counts ms; we export s: 1000). A
    #: divisor, not a factor: 9 / 1000 is 0.009 where 9 * 0.001 is 0.009000000000000001.
    per: int = 1
    #: What the docs add to ``description`` (too long for a metric's help text).
    details: str = ""

    def read(self, stats: PoolStats, adapter: PoolAdapter) -> float:
        if self.source == CHECKED_OUT:
            return adapter.checked_out
        value: int = getattr(stats, self.source)
        return value / self.per if self.per != 1 else value

    @property
    def prometheus_exported_name(self) -> str | None:
        """The name a scrape shows (counters end in ``_total``)."""
        if self.prometheus is None:
            return None
        return self.prometheus + "_total" if self.kind == "counter" else self.prometheus


_MS_PER_SEC: Final = 1000

METRICS: Final[tuple[Metric, ...]] = (
    Metric(
        "pool_min",
        "gauge",
        "{connection}",
        "Connections the pool keeps open even when idle (min_size).",
        prometheus="django_multipool_pool_min_size",
        otel="db.client.connection.idle.min",
    ),
    Metric(
        "pool_max",
        "gauge",
        "{connection}",
        "Most connections the pool may have open (max_size).",
        prometheus="django_multipool_pool_max_size",
        otel="db.client.connection.max",
    ),
    Metric(
        "pool_max",
        "gauge",
        "{connection}",
        "Most idle connections the pool keeps: all of them may be idle, so max_size "
        "(those above min_size close after max_idle).",
        prometheus=None,  # the same number as django_multipool_pool_max_size
        otel="db.client.connection.idle.max",
    ),
    Metric(
        "pool_size",
        "gauge",
        "{connection}",
        "Connections open or being opened (idle, lent out and connecting).",
        prometheus="django_multipool_pool_size",
        otel="django_multipool.pool.size",
        details="The conventions' connection count has no state for a connection being opened.",
    ),
    Metric(
        "pool_available",
        "gauge",
        "{connection}",
        "Idle connections ready to be lent.",
        details=(
            'With release="transaction", including those parked between a session\'s '
            "statements (docs/release-modes.md)."
        ),
        prometheus="django_multipool_pool_available",
        otel="db.client.connection.count",
        otel_attributes={OTEL_STATE: "idle"},
    ),
    Metric(
        CHECKED_OUT,
        "gauge",
        "{connection}",
        "Connections lent out now.",
        details=(
            "The adapter's own count, exact while connections are being opened "
            "(PoolStats.in_use, size - available, counts those too)."
        ),
        prometheus="django_multipool_pool_in_use",
        otel="db.client.connection.count",
        otel_attributes={OTEL_STATE: "used"},
    ),
    Metric(
        "requests_waiting",
        "gauge",
        "{request}",
        "Requests waiting for a connection now.",
        prometheus="django_multipool_requests_waiting",
        otel="db.client.connection.pending_requests",
    ),
    Metric(
        "requests_num",
        "counter",
        "{request}",
        "Requests for a connection (checkouts).",
        details="A statement that takes back its parked connection is not one.",
        prometheus="django_multipool_requests",
        otel="django_multipool.requests",
    ),
    Metric(
        "requests_queued",
        "counter",
        "{request}",
        "Requests that had to wait for a connection.",
        prometheus="django_multipool_requests_queued",
        otel="django_multipool.requests.queued",
    ),
    Metric(
        "requests_wait_ms",
        "counter",
        "s",
        "Time requests spent waiting for a connection, in all.",
        prometheus="django_multipool_requests_wait_seconds",
        otel="django_multipool.requests.wait_time",
        per=_MS_PER_SEC,
    ),
    Metric(
        "requests_errors",
        "counter",
        "{timeout}",
        "Requests that timed out (PoolTimeout) or were refused (TooManyRequests).",
        details=(
            "Besides timeouts, which the conventions count, this counts refusals: at once "
            "when max_waiting others wait (only with max_waiting set), and after a wait "
            "while the server refused every new connection (ConnectRefused)."
        ),
        prometheus="django_multipool_requests_errors",
        otel="db.client.connection.timeouts",
    ),
    Metric(
        "connections_num",
        "counter",
        "{connection}",
        "Connections opened.",
        prometheus="django_multipool_connections",
        otel="django_multipool.connections.opened",
    ),
    Metric(
        "connections_errors",
        "counter",
        "{error}",
        "Failed connection attempts.",
        prometheus="django_multipool_connections_errors",
        otel="django_multipool.connections.errors",
    ),
    Metric(
        "connections_lost",
        "counter",
        "{connection}",
        "Connections found broken by a check, or given back broken.",
        prometheus="django_multipool_connections_lost",
        otel="django_multipool.connections.lost",
    ),
    Metric(
        "usage_ms",
        "counter",
        "s",
        "Time connections were held by their borrowers, in all.",
        prometheus="django_multipool_usage_seconds",
        otel="django_multipool.connections.use_time",
        per=_MS_PER_SEC,
    ),
    Metric(
        "leaks_detected",
        "counter",
        "{connection}",
        "Connections held longer than leak_timeout.",
        prometheus="django_multipool_leaks_detected",
        otel="django_multipool.leaks.detected",
    ),
    Metric(
        "leaks_reclaimed",
        "counter",
        "{connection}",
        "Connections taken back (and closed) from borrowers garbage-collected while "
        "holding them, or whose thread had ended (with leak_timeout set).",
        prometheus="django_multipool_leaks_reclaimed",
        otel="django_multipool.leaks.reclaimed",
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Histogram:
    """A duration per event that a pool gathers when asked, and its OpenTelemetry histogram."""

    #: The kind of duration, as :mod:`django_multipool.timings` names it.
    kind: str
    otel: str
    unit: str
    description: str
    #: What the docs add to ``description``.
    details: str = ""


HISTOGRAMS: Final[tuple[Histogram, ...]] = (
    Histogram(
        "create_time",
        "db.client.connection.create_time",
        "s",
        "The time it took to create a new connection.",
        details="Opening and setting up (the backend's session setup and `configure`). "
        "Not on Oracle: python-oracledb opens its sessions where we cannot time them.",
    ),
    Histogram(
        "wait_time",
        "db.client.connection.wait_time",
        "s",
        "The time it took to obtain an open connection from the pool.",
        details='Each checkout, waited or not; with `release="transaction"` a statement '
        "taking back the connection parked for it is no checkout.",
    ),
    Histogram(
        "use_time",
        "db.client.connection.use_time",
        "s",
        "The time between borrowing a connection and returning it to the pool.",
    ),
)
