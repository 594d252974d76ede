"""What every settings module of Django's test suite run shares.

``runtests.py`` imports ``multipool_<vendor>`` (this directory is on its
``PYTHONPATH``, see ``run.py``); each of those calls :func:`databases`. The
run is chosen by environment variables that ``run.py`` sets:

- ``MULTIPOOL_<VENDOR>_DSN``: the server (as for the pytest suite);
- ``MULTIPOOL_DJSUITE_RELEASE``: ``request`` (default) or ``transaction``;
- ``MULTIPOOL_DJSUITE_ENGINE``: ``multipool`` (default), or ``django`` to run
  the same tests on Django's own backend, to tell our failures from the
  environment's;
- ``MULTIPOOL_DJSUITE_NAME``: the database NAME (default ``djsuite``; the
  suite's test databases are then ``test_djsuite`` and ``test_djsuite_other``);
- ``MULTIPOOL_DJSUITE_BEHIND``: ``transaction`` or ``session`` when the DSN is
  a PgBouncer in that mode (``run.py --behind-pgbouncer``); in transaction mode
  the entries are set as docs/scaling.md says a site behind one must be.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

import django

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = False

if django.VERSION < (6, 0):
    # As Django 5.2's own tests/test_sqlite.py; from 6.0 it is the default.
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

RELEASE_MODES = ("request", "transaction")


def databases(
    vendor: str, *, our_engine: str, django_engine: str, default_dsn: str, **extra: Any
) -> dict[str, dict[str, Any]]:
    """The ``default`` and ``other`` aliases Django's suite needs, on one server."""
    env_var = f"MULTIPOOL_{vendor.upper()}_DSN"
    dsn = urlsplit(os.environ.get(env_var, default_dsn))
    if not dsn.hostname:
        raise ValueError(f"{env_var} has no host; expected e.g. {default_dsn}")
    release = os.environ.get("MULTIPOOL_DJSUITE_RELEASE", "request")
    if release not in RELEASE_MODES:
        raise ValueError(
            f"MULTIPOOL_DJSUITE_RELEASE={release!r}: expected one of {', '.join(RELEASE_MODES)}"
        )
    engine = os.environ.get("MULTIPOOL_DJSUITE_ENGINE", "multipool")
    if engine not in ("multipool", "django"):
        raise ValueError(f"MULTIPOOL_DJSUITE_ENGINE={engine!r}: expected multipool or django")
    name = os.environ.get("MULTIPOOL_DJSUITE_NAME", "djsuite")
    behind_transaction_pooler = os.environ.get("MULTIPOOL_DJSUITE_BEHIND") == "transaction"

    def alias(db_name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "NAME": db_name,
            "USER": unquote(dsn.username or ""),
            "PASSWORD": unquote(dsn.password or ""),
            "HOST": dsn.hostname,
            "PORT": dsn.port or "",
            **extra,
        }
        if vendor == "oracle":
            # No databases inside an Oracle server: NAME is the DSN's service
            # (an Easy Connect string, since with PORT set Django reads NAME as
            # a SID) and each alias's test "database" is a user of its own.
            service = dsn.path.lstrip("/")
            entry.update(NAME=f"{dsn.hostname}:{dsn.port or 1521}/{service}", HOST="", PORT="")
            entry["TEST"] = {
                "USER": f"test_{db_name}",
                "PASSWORD": "Djsuite_pw_1",
                "TBLSPACE": f"test_{db_name}",
                "TBLSPACE_TMP": f"test_{db_name}_temp",
            }
        if engine == "multipool":
            entry["ENGINE"] = our_engine
            # The pool is on, with the shared schema's defaults but for the
            # release mode under test.
            entry["OPTIONS"] = {**entry.get("OPTIONS", {}), "pool": {"release": release}}
            if behind_transaction_pooler:
                entry["OPTIONS"]["pool"]["behind"] = "pgbouncer-transaction"
        else:
            entry["ENGINE"] = django_engine
        if behind_transaction_pooler:
            entry["DISABLE_SERVER_SIDE_CURSORS"] = True
        return entry

    return {"default": alias(name), "other": alias(f"{name}_other")}
