"""System checks: what ``manage.py check`` (and ``runserver``, ``migrate``,
``test``) says about DATABASES before the first request.

They read settings and import backends; none opens a connection. The ids are
stable and listed, with what to do about each, in docs/checks.md. Silence one
with ``SILENCED_SYSTEM_CHECKS = ["django_multipool.W001"]``; run only these
with ``manage.py check --tag django_multipool``.

Not checked, because it cannot be known from settings: whether ``max_size``
times the number of worker processes fits the server's ``max_connections``
(``manage.py pool_status --server`` asks the server).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from ._redact import redact, secrets_of
from ._requires import DriverIncompatible
from .config import PoolConfig
from .errors import PoolConfigError
from .status import ENGINE_PREFIX

__all__ = ["FIRST_REQUEST_UID", "TAG", "check_databases", "warn_on_first_asgi_request"]

logger = logging.getLogger("django_multipool")

#: ``manage.py check --tag django_multipool`` runs only these checks.
TAG = "django_multipool"
#: dispatch_uid of :func:`warn_on_first_asgi_request` on ``request_started``.
FIRST_REQUEST_UID = "django_multipool.checks.first_request"

# Keys of our schema that neither Django's built-in pools (psycopg_pool,
# oracledb.create_pool) nor any driver accepts: on another ENGINE they mean
# the ENGINE line was forgotten.
_OUR_KEYS_ONLY = frozenset({"release", "leak_timeout", "driver_options"})
# Django ENGINEs with no pool of their own, and the django-multipool backend of
# each (the same driver underneath).
_ENGINES_WITHOUT_POOL = {
    "django.db.backends.mysql": "mysql",
    "mysql.connector.django": "mysql_connector",
    "django.db.backends.sqlite3": None,
}
_OUR_VENDOR_OF = {
    "django.db.backends.postgresql": "postgresql",
    "django.db.backends.oracle": "oracle",
    **_ENGINES_WITHOUT_POOL,
}


def check_databases(
    app_configs: Any = None,
    databases: Any = None,
    *,
    databases_settings: Mapping[str, Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Every check, for every alias of DATABASES (or of ``databases_settings``).

    ``databases_settings`` is for tests: entries with Django's defaults filled
    in, as ``ConnectionHandler.settings`` has them.
    """
    entries = connections.settings if databases_settings is None else databases_settings
    asgi = _asgi_evidence()
    messages: list[CheckMessage] = []
    for alias, entry in entries.items():
        messages += _check_alias(alias, entry, asgi)
    return messages


def _check_alias(alias: str, entry: Mapping[str, Any], asgi: str | None) -> list[CheckMessage]:
    where = f"DATABASES[{alias!r}]"
    engine = str(entry.get("ENGINE") or "")
    options = entry.get("OPTIONS") or {}
    pool_option = options.get("pool") if isinstance(options, Mapping) else None
    if not engine.startswith(ENGINE_PREFIX):
        return _check_other_engine(where, entry, engine, pool_option, asgi)

    messages: list[CheckMessage] = []
    imported = _check_backend_imports(where, engine)
    messages += imported
    messages += _leftover_pool_options(where, entry)
    if pool_option is False:
        return messages + _persistent_under_asgi(where, entry, asgi, ours=True)

    conn_max_age = entry.get("CONN_MAX_AGE", 0)
    if conn_max_age != 0:
        messages.append(
            Error(
                f"CONN_MAX_AGE is {conn_max_age!r}, but a pooled alias needs 0: the pool "
                f"replaces persistent connections. The first query would fail with "
                f"PoolConfigError.",
                hint=(
                    f"Set {where}['CONN_MAX_AGE'] to 0 (Django's default) and limit how "
                    f"long a connection lives with OPTIONS['pool']['max_lifetime']."
                ),
                obj=where,
                id="django_multipool.E001",
            )
        )
    try:
        config = PoolConfig.from_options(
            pool_option,
            alias=alias,
            health_checks=bool(entry.get("CONN_HEALTH_CHECKS")),
        )
        config.configure_hook(alias)  # a dotted path that does not import fails here
    except PoolConfigError as exc:
        messages.append(
            Error(
                redact(str(exc), secrets_of(entry)),
                hint="docs/configuration.md lists every key with its type and default.",
                obj=where,
                id="django_multipool.E002",
            )
        )
        return messages

    if not messages:
        messages += _check_vendor_accepts(alias, where, entry)
    if entry.get("CONN_HEALTH_CHECKS") and config.check is False:
        messages.append(
            Warning(
                "CONN_HEALTH_CHECKS is True, but OPTIONS['pool']['check'] is False: "
                "connections are never validated before use.",
                hint=(
                    "Remove 'check' from OPTIONS['pool'] (CONN_HEALTH_CHECKS then "
                    "validates every checkout), set it to a number of idle seconds, or "
                    "set CONN_HEALTH_CHECKS to False."
                ),
                obj=where,
                id="django_multipool.W002",
            )
        )
    if config.behind == "pgbouncer-transaction" and engine == f"{ENGINE_PREFIX}postgresql":
        # (On another vendor, E003 says 'behind' does not belong there.)
        messages += _behind_transaction_pooler(where, entry)
    if config.release == "transaction" and not entry.get("AUTOCOMMIT", True):
        messages.append(
            Warning(
                "OPTIONS['pool']['release'] is 'transaction', but AUTOCOMMIT is False: "
                "a connection is only given back between transactions in autocommit "
                "mode, so this alias holds its connection until the end of the request.",
                hint=(
                    "Set AUTOCOMMIT to True (Django's default) and use atomic(), or "
                    "remove 'release' from OPTIONS['pool']."
                ),
                obj=where,
                id="django_multipool.W003",
            )
        )
    return messages


def _behind_transaction_pooler(where: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    """What breaks when each transaction may get another server session.

    PgBouncer tracks a few parameters per client (TimeZone, DateStyle,
    client_encoding, standard_conforming_strings, application_name) and
    sets them on each server session it lends; nothing else of a session
    follows the client.
    """
    options = entry.get("OPTIONS") or {}
    pooler = "OPTIONS['pool']['behind'] is 'pgbouncer-transaction'"
    messages: list[CheckMessage] = []
    if entry.get("DISABLE_SERVER_SIDE_CURSORS") is not True:
        messages.append(
            Error(
                f"{pooler}, but server-side cursors are on: QuerySet.iterator() declares a "
                f"cursor in one server session and fetches from it in the next "
                f'transaction, which the pooler may send to another session ("cursor ... '
                f'does not exist").',
                hint=f"Set {where}['DISABLE_SERVER_SIDE_CURSORS'] = True.",
                obj=where,
                id="django_multipool.E005",
            )
        )
    if options.get("assume_role"):
        messages.append(
            Error(
                f"{pooler}, but OPTIONS['assume_role'] is set: the SET ROLE runs once per "
                f"pooled connection and lands in whichever server session the pooler lends "
                f"then; later transactions run as another role, and that session serves "
                f"other clients with this role.",
                hint=(
                    "Remove assume_role and connect as the role itself (USER), or point "
                    "this alias at PgBouncer in session mode and remove 'behind'."
                ),
                obj=where,
                id="django_multipool.E006",
            )
        )
    if options.get("prepare_threshold") is not None:
        messages.append(
            Warning(
                f"{pooler}, and OPTIONS['prepare_threshold'] is "
                f"{options.get('prepare_threshold')!r}: psycopg prepares statements in one "
                f"server session and runs them by name in later transactions. PgBouncer "
                f"before 1.21, or with max_prepared_statements = 0 (the default before 1.24), "
                f"fails them "
                f'("prepared statement "_pg3_0" does not exist").',
                hint=(
                    "Remove prepare_threshold (Django's default, None, prepares nothing), or "
                    "run PgBouncer 1.21+ with max_prepared_statements > 0 (1.24+: the "
                    "default) and silence django_multipool.W006."
                ),
                obj=where,
                id="django_multipool.W006",
            )
        )
    return messages


def _check_backend_imports(where: str, engine: str) -> list[CheckMessage]:
    vendor = engine.removeprefix(ENGINE_PREFIX)
    try:
        import_module(f"{engine}.base")
    except DriverIncompatible as exc:
        message = f"ENGINE {engine!r} cannot be used: {exc}"
        hint = "Install the tested driver version the message names, or upgrade django-multipool."
    except ImportError as exc:
        missing = exc.name or ""
        if missing == engine or missing.startswith(engine + "."):
            message = f"ENGINE {engine!r} is not a django-multipool backend."
            hint = (
                "Use django_multipool.backends.postgresql, django_multipool.backends.mysql "
                "(mysqlclient), django_multipool.backends.mysql_connector "
                "(mysql-connector-python) or django_multipool.backends.oracle."
            )
        else:
            message = (
                f"ENGINE {engine!r} cannot be used: its driver is not installed "
                f"(importing it failed with: {exc})."
            )
            hint = f"pip install 'django-multipool[{vendor}]'"
    except ImproperlyConfigured as exc:
        message = f"ENGINE {engine!r} cannot be used: {exc}"
        hint = f"pip install 'django-multipool[{vendor}]'"
    else:
        return []
    return [Error(message, hint=hint, obj=where, id="django_multipool.E004")]


def _check_vendor_accepts(alias: str, where: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    """Build the pool the way the first query would, without opening it.

    The vendor's adapter refuses there what its driver cannot honour
    (driver_options it reserves or does not know, Oracle's thick mode,
    mysql-connector's own pool options): better now than at the first query.
    """
    from django.db.utils import load_backend

    try:
        wrapper = load_backend(entry["ENGINE"]).DatabaseWrapper(dict(entry), alias)
        adapter = wrapper._build_pool()
    except Exception as exc:
        problem = redact(str(exc), secrets_of(entry))
        if not isinstance(exc, ImproperlyConfigured):
            # A driver's own complaint (an unknown keyword argument, a bad
            # value): name its type, the message alone may not say whose it is.
            problem = f"{type(exc).__name__}: {problem}"
        return [
            Error(
                f"the {entry['ENGINE'].removeprefix(ENGINE_PREFIX)} pool cannot be "
                f"built from these settings: {problem}",
                hint=(
                    "docs/vendors/ says which options each vendor's driver can honour; "
                    "driver_options go to the driver as they are."
                ),
                obj=where,
                id="django_multipool.E003",
            )
        ]
    # Never opened: closing it only stops what building started (a leak watch).
    adapter.close()
    return []


def _check_other_engine(
    where: str, entry: Mapping[str, Any], engine: str, pool_option: Any, asgi: str | None
) -> list[CheckMessage]:
    messages = _persistent_under_asgi(where, entry, asgi, ours=False)
    if not pool_option:
        return messages
    without_pool = engine in _ENGINES_WITHOUT_POOL
    ours_only = isinstance(pool_option, Mapping) and (
        _OUR_KEYS_ONLY & set(pool_option) or isinstance(pool_option.get("reset"), str)
    )
    if without_pool or ours_only:
        vendor = _OUR_VENDOR_OF.get(engine)
        why = (
            f"{engine!r} has no connection pool"
            if without_pool
            else f"{sorted(_OUR_KEYS_ONLY & set(pool_option)) or ['reset']} are "
            f"django-multipool options that {engine!r} does not know"
        )
        messages.append(
            Warning(
                f"OPTIONS['pool'] is set, but {why}: it fails at the first connection.",
                hint=(
                    f"Set ENGINE to '{ENGINE_PREFIX}{vendor}'."
                    if vendor
                    else "django-multipool has no backend for this ENGINE: remove OPTIONS['pool']."
                ),
                obj=where,
                id="django_multipool.W004",
            )
        )
    return messages


def _leftover_pool_options(where: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    # django-db-connection-pool reads its options from a key of the DATABASES
    # entry itself; after switching ENGINE, Django and we ignore it silently.
    if "POOL_OPTIONS" not in entry:
        return []
    return [
        Warning(
            f"{where}['POOL_OPTIONS'] is django-db-connection-pool's setting: with this "
            f"ENGINE nothing reads it, so its values have no effect.",
            hint=(
                "Move each option to OPTIONS['pool'] under its shared name (POOL_SIZE + "
                "MAX_OVERFLOW -> max_size, RECYCLE -> max_lifetime, PRE_PING -> check, "
                "TIMEOUT -> timeout) and delete POOL_OPTIONS; docs/migration/"
                "django-db-connection-pool.md maps every key."
            ),
            obj=where,
            id="django_multipool.W005",
        )
    ]


# -- Django ticket #33497: persistent connections under ASGI -----------------------------


def _asgi_evidence() -> str | None:
    """Why we believe the project is served by ASGI, or None.

    ASGI_APPLICATION is what Daphne's and Channels' runserver need, and what
    docs/checks.md asks uvicorn/hypercorn/granian projects to set. Without
    it, :func:`warn_on_first_asgi_request` still logs W001 when the first
    request arrives through Django's ASGI handler.
    """
    if getattr(settings, "ASGI_APPLICATION", None):
        return "settings.ASGI_APPLICATION is set"
    return None


def _persistent_under_asgi(
    where: str, entry: Mapping[str, Any], asgi: str | None, *, ours: bool
) -> list[CheckMessage]:
    if asgi is None or not _persistent_without_pool(entry, ours=ours):
        return []
    return [_asgi_warning(where, entry, asgi)]


def _persistent_without_pool(entry: Mapping[str, Any], *, ours: bool) -> bool:
    conn_max_age = entry.get("CONN_MAX_AGE", 0)
    if conn_max_age is not None and conn_max_age <= 0:
        return False
    options = entry.get("OPTIONS") or {}
    pool_option = options.get("pool") if isinstance(options, Mapping) else None
    # A pooled alias with CONN_MAX_AGE set is E001 (ours) or Django's own error.
    return pool_option is False if ours else not pool_option


def _asgi_warning(where: str, entry: Mapping[str, Any], asgi: str) -> Warning:
    engine = str(entry.get("ENGINE") or "")
    vendor = (
        engine.removeprefix(ENGINE_PREFIX)
        if engine.startswith(ENGINE_PREFIX)
        else _OUR_VENDOR_OF.get(engine)
    )
    fix = "Set CONN_MAX_AGE to 0"
    if vendor:
        fix += (
            f" and pool the connections instead: ENGINE '{ENGINE_PREFIX}{vendor}' with "
            f"OPTIONS['pool'] = True (or a dict of pool options)."
        )
    else:
        fix += "."
    return Warning(
        f"CONN_MAX_AGE is {entry.get('CONN_MAX_AGE')!r} without a pool, and the project "
        f"is served by ASGI ({asgi}). Under ASGI each request runs in a new thread, so "
        f"every persistent connection is left open and never reused: one more server "
        f"connection per request until the database refuses more (Django ticket #33497).",
        hint=fix,
        obj=where,
        id="django_multipool.W001",
    )


def warn_on_first_asgi_request(sender: type, **kwargs: Any) -> None:
    """``request_started`` receiver: W001 for servers no check saw, once per process.

    Checks run under ``manage.py``, not under uvicorn or gunicorn, and a
    project need not set ASGI_APPLICATION. The first request tells which
    handler serves the process; the receiver then disconnects itself, so
    later requests pay nothing.
    """
    from django.core.handlers.asgi import ASGIHandler
    from django.core.signals import request_started

    request_started.disconnect(dispatch_uid=FIRST_REQUEST_UID)
    if not (isinstance(sender, type) and issubclass(sender, ASGIHandler)):
        return
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", ()))
    if "django_multipool.W001" in silenced:
        return
    for alias, entry in connections.settings.items():
        ours = str(entry.get("ENGINE") or "").startswith(ENGINE_PREFIX)
        if _persistent_without_pool(entry, ours=ours):
            warning = _asgi_warning(
                f"DATABASES[{alias!r}]", entry, f"this process serves {sender.__name__}"
            )
            logger.warning("%s: (%s) %s %s", warning.obj, warning.id, warning.msg, warning.hint)
