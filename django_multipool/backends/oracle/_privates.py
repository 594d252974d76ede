"""The Django internals :mod:`django_multipool.backends.oracle` relies on.

Imported by the backend before anything else of Django's Oracle backend
(see ``backends/_privates.py``).
"""

from __future__ import annotations

from ..._requires import Private, require

__all__ = ["PRIVATES"]

_WRAPPER = "django.db.backends.oracle.base:DatabaseWrapper"

PRIVATES = (
    Private(
        "django.db.backends.oracle.base:FormatStylePlaceholderCursor",
        "is the cursor class the backend makes counted",
    ),
    Private("django.db.backends.oracle.utils:dsn", "builds the connect string, as Django does"),
    *(
        Private(f"{_WRAPPER}.{name}", "is the LIKE operator table the first session's probe picks")
        for name in (
            "_standard_operators",
            "_likec_operators",
            "_standard_pattern_ops",
            "_likec_pattern_ops",
        )
    ),
    Private(
        "django.db.backends.oracle.creation:DatabaseCreation._destroy_test_db",
        "the backend overrides to end the test user's sessions first",
        ("self", "test_database_name", "verbosity"),
    ),
)

require("django_multipool.backends.oracle", "django", PRIVATES)
