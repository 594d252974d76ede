"""The Django internals :mod:`django_multipool.backends.postgresql` relies on.

Imported by the backend before anything else of Django's PostgreSQL backend
(see ``backends/_privates.py``).
"""

from __future__ import annotations

from ..._requires import Private, require

__all__ = ["PRIVATES"]

_BASE = "django.db.backends.postgresql.base"
_ANY = "django.db.backends.postgresql.psycopg_any"

PRIVATES = (
    Private(f"{_BASE}:ServerSideCursor", "is the named cursor class the backend makes counted"),
    Private(f"{_BASE}:TIMESTAMPTZ_OID", "finds the time zone loader of a named cursor"),
    Private(f"{_ANY}:register_tzloader", "sets a named cursor's time zone, as Django does"),
    Private(f"{_ANY}:is_psycopg3", "tells psycopg 3, which the pool needs, from psycopg2"),
    Private(f"{_ANY}:IsolationLevel", "parses OPTIONS['isolation_level'], as Django does"),
    Private(
        f"{_BASE}:DatabaseWrapper._set_autocommit",
        "the backend overrides to skip setting what is already set",
        ("self", "autocommit"),
    ),
)

require("django_multipool.backends.postgresql", "django", PRIVATES)
