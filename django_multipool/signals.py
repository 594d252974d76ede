"""Signals for metrics systems other than Prometheus: when pools come and go.

Only the life cycle of pools is signalled, never a checkout: a signal on the
acquire/release path would cost every query. What happens inside a pool is
counted in :class:`~django_multipool.PoolStats` instead; read it whenever
your metrics system wants (``django_multipool.pool_stats()``, or
``pool.stats()`` on the pool a signal hands you). docs/monitoring.md has a
StatsD example.

Both signals are sent with ``send_robust()`` after the registry's lock is
released: a receiver that raises is logged by Django and never breaks a
database connection, and a receiver may itself look at the registry.
"""

from __future__ import annotations

from typing import Final

from django.dispatch import Signal

__all__ = [
    "CLOSE_ALL",
    "CLOSE_POOL",
    "DATABASE_CLOSED",
    "SETTINGS_CHANGED",
    "pool_closed",
    "pool_opened",
]

#: Sent once a pool is built and open, in the process that will use it.
#: Arguments: ``sender`` (the adapter class), ``alias`` (the database alias)
#: and ``pool`` (the :class:`~django_multipool.PoolAdapter`).
pool_opened = Signal()

#: Sent after a pool was closed: it lends no more connections, and those it
#: lent close when given back. Same arguments as :data:`pool_opened`, plus
#: ``reason``, one of the constants below. Not sent in a child process for
#: the pools it inherited through ``fork()``: those are dropped, not closed,
#: and the child opens (and signals) its own.
pool_closed = Signal()

#: The alias's settings changed (the test runner switched ``NAME`` to the
#: test database, ``override_settings``, a parallel test worker's clone), so
#: the pool was replaced by one built for the new settings.
SETTINGS_CHANGED: Final = "settings_changed"
#: ``connections[alias].close_pool()`` was called.
CLOSE_POOL: Final = "close_pool"
#: The pool's database is about to be cloned or dropped (test databases).
DATABASE_CLOSED: Final = "database_closed"
#: Every pool of the process was closed at once (``registry.close_all()``).
CLOSE_ALL: Final = "close_all"
