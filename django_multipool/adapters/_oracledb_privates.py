"""The python-oracledb internals :mod:`django_multipool.adapters.oracledb` relies on.

Imported by the adapter before anything else of oracledb, so that a release
without one of them fails here (:func:`~django_multipool._requires.require`).
"""

from __future__ import annotations

from typing import Any

from .._requires import Private, require

__all__ = ["PRIVATES"]


def _unconnected() -> Any:
    import oracledb

    # Allocated, never initialised: what a connection's finaliser then sees.
    return oracledb.Connection.__new__(oracledb.Connection)


def _error() -> Any:
    import oracledb

    return oracledb._Error("probe")


PRIVATES = (
    Private(
        "oracledb:Connection._impl",
        "a forked child clears, so that the parent's session is never closed from it",
        probe=_unconnected,
    ),
    Private(
        "oracledb:ConnectionPool._impl",
        "a forked child clears, so that the parent's pool is never closed from it",
    ),
    Private(
        "oracledb:_Error.full_code",
        "is the DPY-/ORA- code the adapter translates errors by",
        probe=_error,
    ),
    Private(
        "oracledb:_Error.is_session_dead",
        "tells the backend a session ended under it (an OperationalError)",
        probe=_error,
    ),
)

require("django_multipool.adapters.oracledb", "oracledb", PRIVATES)
