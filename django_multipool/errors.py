"""Errors raised by django-multipool, the same on every vendor.

Pool errors subclass ``django.db.utils.OperationalError`` so that code written
for Django (``except DatabaseError``, Django's own error wrapping, Sentry
grouping) treats an exhausted pool like any other operational failure of the
database. This is the only core module that imports Django.
"""

from __future__ import annotations

import socket

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import OperationalError, ProgrammingError

__all__ = [
    "AUTHENTICATION_FAILED",
    "CONNECTION_REFUSED",
    "UNKNOWN_HOST",
    "ConnectRefused",
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
        connecting: int = 0,
    ) -> PoolTimeout:
        """Build the message; ``in_use`` below ``max_size`` means connecting failed or is slow.

        ``connect_error`` is what the driver said when connecting, already
        stripped of secrets by the caller; ``connecting``: attempts still in
        progress (when the pool knows).
        """
        if in_use is not None and in_use < max_size and connecting and not connect_errors:
            why = (
                f"only {in_use} of {max_size} connections (max_size) are in use and "
                f"{connecting} more still being opened: connecting takes longer than the wait"
            )
            fix = (
                "Raise OPTIONS['pool']['timeout'], or min_size so that connections are "
                "open before they are needed; a server slow to accept connections (load, "
                "DNS, authentication) is the cause."
            )
        elif in_use is None or in_use >= max_size:
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


#: Causes of :class:`ConnectRefused`: answers that another attempt made within
#: seconds would get again. Slow failures (timeouts, a server that accepts and
#: stalls) and busy ones ("too many connections") are none of these.
CONNECTION_REFUSED = "connection refused"
UNKNOWN_HOST = "unknown host"
AUTHENTICATION_FAILED = "authentication failed"


class ConnectRefused(PoolTimeout):
    """No connection was idle and the server refused a new one.

    Raised after that one connection attempt instead of after ``timeout``: a
    database that is down must not hold every worker for ``timeout``. A
    :class:`PoolTimeout`, so code that answers those with a 503 handles a
    database that is down as before, only sooner. ``cause`` is one of
    :data:`CONNECTION_REFUSED`, :data:`UNKNOWN_HOST`, :data:`AUTHENTICATION_FAILED`.
    """

    __module__ = "django_multipool"

    cause: str = CONNECTION_REFUSED

    @classmethod
    def after_attempt(
        cls, name: str, cause: str, connect_error: str, timeout: float
    ) -> ConnectRefused:
        """``connect_error`` is what the driver said, already stripped of secrets."""
        error = cls(
            f"couldn't get a connection from pool {name!r}: none is idle and the attempt "
            f"to open one failed ({cause}), so the request did not wait for timeout "
            f"({timeout:.2f} s). Connecting fails with: {connect_error}. The pool tries "
            f"again for the next request, and serves it as soon as the server answers."
        )
        error.cause = cause
        return error


def os_refusal(exc: BaseException) -> str | None:
    """The cause if ``exc``, or an exception it was raised from, is the OS refusing a connect.

    For drivers that raise their error ``from`` the socket's (mysql-connector,
    python-oracledb). A timeout is not a refusal, nor is a name server that
    did not answer (EAI_AGAIN): only one that said the name does not exist.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ConnectionRefusedError):
            return CONNECTION_REFUSED
        if isinstance(link, socket.gaierror) and link.errno in _NO_SUCH_NAME:
            return UNKNOWN_HOST
        link = link.__cause__
    return None


_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


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
