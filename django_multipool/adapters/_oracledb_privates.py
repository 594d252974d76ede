"""The python-oracledb internals :mod:`django_multipool.adapters.oracledb` relies on.

Imported by the adapter before anything else of oracledb, so that a release
without one of them fails here (:func:`~django_multipool._requires.require`).
"""

from __future__ import annotations

from .._requires import Private, require

__all__ = ["PRIVATES"]


PRIVATES = (
    Private(
        "oracledb:Connection._impl",
        "a forked child clears, so that the parent's session is never closed from it",
        instance=True,
    ),
    Private(
        "oracledb:ConnectionPool._impl",
        "a forked child clears, so that the parent's pool is never closed from it",
        instance=True,
    ),
    Private(
        "oracledb:_Error.full_code",
        "is the DPY-/ORA- code the adapter translates errors by",
        instance=True,
    ),
    Private(
        "oracledb:_Error.is_session_dead",
        "tells the backend a session ended under it (an OperationalError)",
        instance=True,
    ),
)

require("django_multipool.adapters.oracledb", "oracledb", PRIVATES)
