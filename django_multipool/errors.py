"""Errors raised by django-multipool, the same on every vendor.

Pool errors subclass ``django.db.utils.OperationalError`` so that code written
for Django (``except DatabaseError``, Django's own error wrapping, Sentry
grouping) treats an exhausted pool like any other operational failure of the
database. This is the only core module that imports Django.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import OperationalError, ProgrammingError

__all__ = [
    "PoolClosed",
    "PoolConfigError",
    "PoolError",
    "PoolTimeout",
    "SessionStateError",
    "TooManyRequests",
]


class PoolConfigError(ImproperlyConfigured):
    """``OPTIONS["pool"]`` or a setting that goes with it is wrong."""

    __module__ = "django_multipool"


class PoolError(OperationalError):
    """A connection could not be obtained from, or given back to, a pool."""

    __module__ = "django_multipool"


class PoolTimeout(PoolError):
    """No connection became available within the pool's ``timeout``."""

    __module__ = "django_multipool"

    @classmethod
    def after_wait(
        cls,
        name: str,
        max_size: int,
        waited: float,
        waiting: int,
        *,
        in_use: int | None = None,
        connect_errors: int = 0,
        connect_error: str | None = None,
    ) -> PoolTimeout:
        """Build the message; ``in_use`` below ``max_size`` means connecting failed.

        ``connect_error`` is what the driver said when connecting, already
        stripped of secrets by the caller.
        """
        if in_use is None or in_use >= max_size:
            why = f"all {max_size} connections (max_size) are in use"
            fix = (
                "Raise OPTIONS['pool']['max_size'] if the database can take more "
                "connections, or OPTIONS['pool']['timeout'] to wait longer."
            )
        else:
            why = (
                f"only {in_use} of {max_size} connections (max_size) are in use and no "
                f"other could be opened ({connect_errors} connection attempts failed)"
            )
            fix = (
                f"Connecting fails with: {connect_error}"
                if connect_error
                else "Check that the database server is reachable; the driver's log has the cause."
            )
        return cls(
            f"couldn't get a connection from pool {name!r} after {waited:.2f} s: "
            f"{why}; {waiting} other requests are waiting. {fix}"
        )


class TooManyRequests(PoolError):
    """The wait queue is full (``max_waiting``): the request was refused at once."""

    __module__ = "django_multipool"

    @classmethod
    def queue_full(cls, name: str, max_size: int, waiting: int) -> TooManyRequests:
        return cls(
            f"pool {name!r} refused a request at once: all {max_size} connections "
            f"(max_size) are in use and {waiting} requests are already waiting "
            f"(max_waiting). Raise OPTIONS['pool']['max_waiting'] (0 = no limit) or "
            f"OPTIONS['pool']['max_size']."
        )


class PoolClosed(PoolError):
    """The pool was closed (settings changed, ``close_pool()``, process exit)."""

    __module__ = "django_multipool"


class SessionStateError(ProgrammingError):
    """A statement would leave state in a session that ``release="transaction"`` gives back.

    Raised before the statement is sent, with ``OPTIONS["pool"]["session_state"]
    = "error"``; the message names the statement and the ways out.
    """

    __module__ = "django_multipool"
