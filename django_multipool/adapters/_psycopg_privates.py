"""The psycopg_pool internals :mod:`django_multipool.adapters.psycopg` relies on.

Imported by the adapter before anything else of psycopg_pool, so that a
release without one of them fails here (:func:`~django_multipool._requires.require`).
"""

from __future__ import annotations

from .._requires import Private, require

__all__ = ["PRIVATES"]


_POOL = "psycopg_pool.pool:ConnectionPool"

PRIVATES = (
    Private(
        f"{_POOL}._get_ready_connection",
        "the LIFO pool replaces with a copy (tests/unit/test_psycopg_lifo.py)",
        params=("self", "timeout"),
    ),
    Private(
        f"{_POOL}._connect",
        "the adapter wraps to keep the last connect error and count refusals",
        params=("self", "timeout"),
    ),
    Private(
        f"{_POOL}.schedule_task",
        "the adapter wraps to bring a refused attempt's retry forward",
        params=("self", "task", "delay"),
    ),
    Private(
        f"{_POOL}._maybe_grow_pool",
        "the adapter wraps to retry at once when a client queues after a refusal",
        params=("self",),
    ),
    Private(
        f"{_POOL}.reconnect_failed",
        "the adapter wraps to grow again for clients still waiting",
        params=("self",),
    ),
    Private(
        f"{_POOL}._set_connection_expiry_date",
        "stamps each connection with the _expire_at that park() reads",
    ),
    Private(f"{_POOL}._REQUESTS_ERRORS", "is the stats key the LIFO copy counts into"),
    Private(f"{_POOL}._CONNECTIONS_ERRORS", "is the stats key a failed setup counts into"),
    *(
        Private(f"{_POOL}.{name}", why, instance=True)
        for name, why in (
            ("_lock", "is the lock under which park() decides, as psycopg_pool decides who waits"),
            ("_waiting", "is the queue park() and PoolTimeout's message read"),
            ("_closed", "is the flag park() reads and a forked child sets"),
            ("_pool", "is the deque of idle connections the LIFO copy pops from"),
            ("_nconns_min", "is the low-water mark the LIFO copy updates"),
            ("_stats", "is the counter the LIFO copy and a failed setup add to"),
        )
    ),
    Private(
        f"{_POOL}._expire_at",
        "is the expiry psycopg_pool stamps on each connection, which park() reads",
        instance=True,
    ),
    Private(
        "psycopg_pool.pool:MaintenanceTask.__init__",
        "the adapter's _Retry subclasses it",
        params=("self", "pool"),
    ),
    Private(
        "psycopg_pool.pool:MaintenanceTask._run",
        "_Retry implements it",
        params=("self", "pool"),
    ),
    Private("psycopg_pool.pool:MaintenanceTask.run", "_Retry runs the task it wraps with it"),
    Private(
        "psycopg_pool.pool:AddConnection", "is the task the adapter recognises as a connect retry"
    ),
    Private("psycopg_pool.pool:WaitingClient.conn", "tells a waiting client that was served"),
    Private("psycopg_pool.pool:WaitingClient.error", "tells a waiting client that timed out"),
    Private(
        "psycopg_pool.pool:WaitingClient.fail",
        "fails the clients a refused attempt answers",
        params=("self", "error"),
    ),
)

require("django_multipool.adapters.psycopg", "psycopg")
require("django_multipool.adapters.psycopg", "psycopg-pool", PRIVATES)
