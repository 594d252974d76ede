"""The Django internals every backend of ours relies on (vendor ones: ``<vendor>/_privates.py``).

Django documents no API for third-party backends: these methods and
attributes are what its own backends override and call. Imported by
:mod:`~django_multipool.backends.mixins` before anything else of Django, so
that a release without one of them fails here
(:func:`~django_multipool._requires.require`).
``tests/unit/test_django_tripwire.py`` guards the pool call sites besides.
"""

from __future__ import annotations

from .._requires import Private, require

__all__ = ["PRIVATES"]

_WRAPPER = "django.db.backends.base.base:BaseDatabaseWrapper"
_CREATION = "django.db.backends.base.creation:BaseDatabaseCreation"

PRIVATES = (
    Private(f"{_WRAPPER}._close", "the mixin overrides to give the connection back", ("self",)),
    Private(
        f"{_WRAPPER}._set_autocommit",
        "a session that leases again calls, and backends override to skip a no-op",
        ("self", "autocommit"),
    ),
    Private(
        f"{_WRAPPER}.get_new_connection",
        "the mixin overrides to check out of the pool",
        ("self", "conn_params"),
    ),
    Private(
        f"{_WRAPPER}.close_if_health_check_failed",
        "the mixin overrides to take a parked connection back",
        ("self",),
    ),
    Private(
        f"{_WRAPPER}.make_cursor", "the mixin overrides to count open cursors", ("self", "cursor")
    ),
    Private(
        f"{_WRAPPER}.make_debug_cursor",
        "the mixin overrides to count open cursors",
        ("self", "cursor"),
    ),
    Private(
        f"{_WRAPPER}.set_autocommit",
        "the mixin overrides to release after atomic()",
        ("self", "autocommit", "force_begin_transaction_with_broken_autocommit"),
    ),
    Private(
        f"{_CREATION}._clone_test_db",
        "the mixin overrides to close pools on the template first",
        ("self", "suffix", "verbosity", "keepdb"),
    ),
    Private(
        f"{_CREATION}._destroy_test_db",
        "the mixin overrides to close pools on the test database first",
        ("self", "test_database_name", "verbosity"),
    ),
    Private("django.db.backends.base.base:NO_DB_ALIAS", "is the alias that never pools"),
    *(
        Private(f"{_WRAPPER}.{name}", why, instance=True)
        for name, why in (
            (
                "in_atomic_block",
                "keeps a connection held inside atomic(); a forked child resets it",
            ),
            ("savepoint_ids", "is transaction state a forked child resets"),
            ("atomic_blocks", "is transaction state a forked child resets"),
            ("needs_rollback", "is transaction state a forked child resets"),
            ("run_on_commit", "is transaction state a forked child resets"),
            ("errors_occurred", "sends a maybe broken connection through the return path"),
            ("health_check_done", "is reset when a session ends, as Django does"),
        )
    ),
    Private(
        "django.db.utils:DatabaseErrorWrapper.__exit__",
        "the MySQL and Oracle backends override to raise OperationalError for a lost session",
        ("self", "exc_type", "exc_value", "traceback"),
    ),
    Private("django.utils.asyncio:async_unsafe", "guards close() as Django guards its own"),
)

require("django_multipool.backends", "django", PRIVATES)
