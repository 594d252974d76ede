"""System checks (django_multipool/checks.py): each id fires on the settings
it is about and stays quiet on the fixed ones. No server: checks never connect.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import registry as checks_registry
from django.core.checks import run_checks
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db.utils import ConnectionHandler
from django.test import override_settings

from django_multipool import checks
from django_multipool._redact import REDACTED, redact, secrets_of
from django_multipool.backends.registry import registry

REPO = Path(__file__).resolve().parent.parent.parent

PG = "django_multipool.backends.postgresql"
MYSQL = "django_multipool.backends.mysql"
CONNECTOR = "django_multipool.backends.mysql_connector"
ORACLE = "django_multipool.backends.oracle"
# Unroutable (TEST-NET-3): a check that tried to connect would hang, not pass.
NOWHERE = {"HOST": "203.0.113.1", "PORT": "5", "USER": "u", "PASSWORD": "pw-in-settings"}


def entry(engine: str, pool: Any = True, **extra: Any) -> dict[str, Any]:
    options = dict(extra.pop("OPTIONS", {}))
    if pool is not None:
        options["pool"] = pool
    name = "svc" if engine == ORACLE else "db"
    return {"ENGINE": engine, "NAME": name, **NOWHERE, "OPTIONS": options, **extra}


def run(**databases: dict[str, Any]) -> list[Any]:
    """Our checks over DATABASES = ``databases`` (Django's defaults filled in)."""
    databases.setdefault("default", {"ENGINE": "django.db.backends.dummy"})
    return checks.check_databases(databases_settings=ConnectionHandler(databases).settings)


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def only(messages: list[Any], check_id: str) -> Any:
    assert ids(messages) == [check_id], [str(m) for m in messages]
    return messages[0]


# -- registration ----------------------------------------------------------------------


def test_registered_under_its_tag_and_quiet_on_the_test_settings() -> None:
    assert checks.check_databases in checks_registry.registry.get_checks()
    assert checks.TAG in checks_registry.registry.tags_available()
    assert run_checks(tags=[checks.TAG]) == []


def test_valid_settings_on_every_vendor_pass_without_opening_a_pool() -> None:
    messages = run(
        pg=entry(PG, {"max_size": 4, "driver_options": {"num_workers": 2}}),
        maria=entry(MYSQL, {"release": "transaction"}),
        ora=entry(ORACLE, {"max_lifetime": 600}),
        off=entry(PG, False),
    )
    assert messages == []
    assert all(registry.current(alias) is None for alias in ("pg", "maria", "ora"))


# -- E001 CONN_MAX_AGE on a pooled alias ------------------------------------------------


@pytest.mark.parametrize("conn_max_age", [60, None])
def test_e001_pool_with_persistent_connections(conn_max_age: int | None) -> None:
    message = only(run(db=entry(PG, CONN_MAX_AGE=conn_max_age)), "django_multipool.E001")
    assert message.obj == "DATABASES['db']"
    assert repr(conn_max_age) in message.msg
    assert "CONN_MAX_AGE'] to 0" in message.hint and "max_lifetime" in message.hint


def test_e001_not_when_pooling_is_off() -> None:
    assert "django_multipool.E001" not in ids(run(db=entry(PG, False, CONN_MAX_AGE=60)))


# -- E002 bad OPTIONS["pool"] ------------------------------------------------------------


def test_e002_bad_pool_options_before_the_first_query() -> None:
    message = only(run(db=entry(PG, {"max_szie": 3})), "django_multipool.E002")
    assert "'max_szie'" in message.msg and "Did you mean 'max_size'?" in message.msg


def test_e002_and_e001_both_reported() -> None:
    messages = run(db=entry(MYSQL, {"min_size": 5, "max_size": 2}, CONN_MAX_AGE=10))
    assert ids(messages) == ["django_multipool.E001", "django_multipool.E002"]
    assert "min_size (5) is larger than max_size (2)" in messages[1].msg


def test_e002_a_configure_path_that_does_not_import() -> None:
    message = only(
        run(db=entry(PG, {"configure": "multipool_nowhere.configure"})), "django_multipool.E002"
    )
    assert "['configure']" in message.msg and "no module 'multipool_nowhere'" in message.msg


def test_a_configure_path_that_imports_passes() -> None:
    assert run(db=entry(MYSQL, {"configure": f"{__name__}.configure_connection"})) == []


def configure_connection(connection: Any) -> None:
    """Named by the test above."""


# -- E003 what the vendor cannot honour ------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "pool", "options", "expected"),
    [
        # psycopg_pool's own knob for a shared key: two values could disagree.
        (PG, {"driver_options": {"max_size": 3}}, {}, "set OPTIONS['pool']['max_size'] instead"),
        # psycopg_pool does not know it: its TypeError, named.
        (PG, {"driver_options": {"no_such_knob": 1}}, {}, "TypeError"),
        # mysql-connector's own pool inside ours.
        (CONNECTOR, {"driver_options": {"pool_size": 5}}, {}, "OPTIONS['pool']['max_size']"),
        (CONNECTOR, True, {"use_pure": False}, "use_pure"),
        (CONNECTOR, {"driver_options": {"not_a_connect_arg": 1}}, {}, "does not accept"),
        # mysql-connector's arguments given to the mysqlclient ENGINE: the other ENGINE named.
        (MYSQL, {"driver_options": {"pool_size": 5}}, {}, f"ENGINE to '{CONNECTOR}'"),
        (MYSQL, {"driver_options": {"connection_timeout": 5}}, {}, "connect_timeout"),
        (MYSQL, True, {"use_pure": True}, f"ENGINE to '{CONNECTOR}'"),
        (MYSQL, {"driver_options": {"not_a_connect_arg": 1}}, {}, "MySQLdb.connect() does not"),
        # python-oracledb: options the adapter refuses, in DATABASES OPTIONS or driver_options.
        (ORACLE, {"driver_options": {"homogeneous": False}}, {}, "'homogeneous'"),
        (ORACLE, True, {"getmode": 1}, "python-oracledb pool parameter"),
    ],
)
def test_e003_options_the_vendor_cannot_honour(
    engine: str, pool: Any, options: dict[str, Any], expected: str
) -> None:
    message = only(run(db=entry(engine, pool, OPTIONS=options)), "django_multipool.E003")
    assert expected in message.msg
    assert registry.current("db") is None


def test_e003_the_janitor_forgets_the_trial_build() -> None:
    from django_multipool._janitor import janitor

    before = len(janitor._ledgers)
    assert run(db=entry(PG, {"leak_timeout": 5})) == []
    assert len(janitor._ledgers) == before


# -- E004 backend or driver missing ----------------------------------------------------------


@pytest.fixture
def without_oracledb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter as if python-oracledb were not installed."""
    for name in list(sys.modules):
        if name == "oracledb" or name.startswith(("oracledb.", ORACLE)):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "oracledb", None)  # import raises ImportError


@pytest.mark.usefixtures("without_oracledb")
def test_e004_driver_not_installed() -> None:
    message = only(run(db=entry(ORACLE)), "django_multipool.E004")
    assert "driver is not installed" in message.msg and "oracledb" in message.msg
    assert message.hint == "pip install 'django-multipool[oracle]'"


def test_e004_engine_that_is_not_ours() -> None:
    message = only(run(db=entry("django_multipool.backends.sqlite")), "django_multipool.E004")
    assert "not a django-multipool backend" in message.msg
    assert PG in message.hint


# -- W001 Django #33497 -------------------------------------------------------------------------


PERSISTENT = {
    "django_pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "CONN_MAX_AGE": 60},
    "forever": {"ENGINE": "django.db.backends.mysql", "NAME": "x", "CONN_MAX_AGE": None},
    "ours_off": entry(PG, False, CONN_MAX_AGE=30),
}


@override_settings(ASGI_APPLICATION="project.asgi.application")
def test_w001_persistent_connections_under_asgi() -> None:
    messages = run(**PERSISTENT)
    assert ids(messages) == ["django_multipool.W001"] * 3
    by_alias = {m.obj: m for m in messages}
    assert "#33497" in by_alias["DATABASES['django_pg']"].msg
    assert "ASGI_APPLICATION" in by_alias["DATABASES['django_pg']"].msg
    assert f"ENGINE '{PG}'" in by_alias["DATABASES['django_pg']"].hint
    assert f"ENGINE '{MYSQL}'" in by_alias["DATABASES['forever']"].hint
    assert "CONN_MAX_AGE to 0" in by_alias["DATABASES['ours_off']"].hint


@override_settings(ASGI_APPLICATION="project.asgi.application")
def test_w001_not_for_pools_or_per_request_connections() -> None:
    assert (
        run(
            pooled=entry(PG),
            django_pool={"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": True}},
            per_request={"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        )
        == []
    )


def test_w001_not_without_asgi() -> None:
    assert run(**PERSISTENT) == []


@pytest.fixture
def first_request_receiver() -> Iterator[None]:
    request_started.connect(
        checks.warn_on_first_asgi_request, dispatch_uid=checks.FIRST_REQUEST_UID
    )
    yield
    request_started.connect(
        checks.warn_on_first_asgi_request, dispatch_uid=checks.FIRST_REQUEST_UID
    )


def _receiver_connected() -> bool:
    return any(key[0] == checks.FIRST_REQUEST_UID for key, *_ in request_started.receivers)


@pytest.mark.usefixtures("first_request_receiver")
def test_w001_logged_at_the_first_asgi_request_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        checks, "connections", ConnectionHandler({"default": PERSISTENT["django_pg"]})
    )
    caplog.set_level(logging.WARNING, logger="django_multipool")
    assert _receiver_connected()
    request_started.send(sender=ASGIHandler, scope={})
    assert not _receiver_connected()
    request_started.send(sender=ASGIHandler, scope={})
    records = [r for r in caplog.records if "django_multipool.W001" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING and "ASGIHandler" in records[0].getMessage()


@pytest.mark.usefixtures("first_request_receiver")
def test_w001_not_logged_under_wsgi_and_receiver_gone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        checks, "connections", ConnectionHandler({"default": PERSISTENT["django_pg"]})
    )
    caplog.set_level(logging.WARNING, logger="django_multipool")
    assert _receiver_connected()
    request_started.send(sender=WSGIHandler, environ={})
    assert not _receiver_connected()
    request_started.send(sender=ASGIHandler, scope={})
    assert not [r for r in caplog.records if "W001" in r.getMessage()]


# -- W002 .. W004 ------------------------------------------------------------------------------


def test_w002_health_checks_on_but_check_off() -> None:
    message = only(
        run(db=entry(PG, {"check": False}, CONN_HEALTH_CHECKS=True)), "django_multipool.W002"
    )
    assert "never validated" in message.msg
    assert run(db=entry(PG, CONN_HEALTH_CHECKS=True)) == []


def test_w003_release_per_transaction_without_autocommit() -> None:
    message = only(
        run(db=entry(MYSQL, {"release": "transaction"}, AUTOCOMMIT=False)),
        "django_multipool.W003",
    )
    assert "AUTOCOMMIT is False" in message.msg
    assert run(db=entry(MYSQL, {"release": "transaction"})) == []
    assert run(db=entry(MYSQL, AUTOCOMMIT=False)) == []


BEHIND = {"behind": "pgbouncer-transaction"}


def test_behind_a_transaction_pooler_with_the_fixes_passes() -> None:
    assert run(db=entry(PG, BEHIND, DISABLE_SERVER_SIDE_CURSORS=True)) == []
    # Not behind one: server-side cursors, roles and prepared statements are fine.
    assert run(db=entry(PG, OPTIONS={"assume_role": "r", "prepare_threshold": 5})) == []


def test_e005_server_side_cursors_behind_a_transaction_pooler() -> None:
    message = only(run(db=entry(PG, BEHIND)), "django_multipool.E005")
    assert "iterator()" in message.msg
    assert message.hint == "Set DATABASES['db']['DISABLE_SERVER_SIDE_CURSORS'] = True."


def test_e006_assume_role_behind_a_transaction_pooler() -> None:
    messages = run(
        db=entry(PG, BEHIND, DISABLE_SERVER_SIDE_CURSORS=True, OPTIONS={"assume_role": "app"})
    )
    message = only(messages, "django_multipool.E006")
    assert "SET ROLE" in message.msg and "session mode" in message.hint


def test_w006_prepared_statements_behind_a_transaction_pooler() -> None:
    messages = run(
        db=entry(PG, BEHIND, DISABLE_SERVER_SIDE_CURSORS=True, OPTIONS={"prepare_threshold": 5})
    )
    message = only(messages, "django_multipool.W006")
    assert "1.21" in message.msg and "Remove prepare_threshold" in message.hint


def test_behind_is_refused_on_other_vendors_and_misspelt() -> None:
    message = only(run(db=entry(MYSQL, BEHIND)), "django_multipool.E003")
    assert "a PostgreSQL pooler" in message.msg and "Remove 'behind'" in message.msg
    message = only(run(db=entry(PG, {"behind": "pgbouncer-session"})), "django_multipool.E002")
    assert "PgBouncer in session mode needs None" in message.msg


@pytest.mark.parametrize(
    ("engine", "pool", "hint"),
    [
        ("django.db.backends.mysql", True, f"Set ENGINE to '{MYSQL}'."),
        ("mysql.connector.django", {"max_size": 5}, f"Set ENGINE to '{MYSQL}_connector'."),
        ("django.db.backends.postgresql", {"release": "transaction"}, f"Set ENGINE to '{PG}'."),
        ("django.db.backends.oracle", {"reset": "session"}, f"Set ENGINE to '{ORACLE}'."),
        ("django.db.backends.sqlite3", True, "remove OPTIONS['pool']"),
    ],
)
def test_w004_our_pool_options_on_another_engine(engine: str, pool: Any, hint: str) -> None:
    message = only(run(db={"ENGINE": engine, "OPTIONS": {"pool": pool}}), "django_multipool.W004")
    assert hint in message.hint


def test_w004_not_for_djangos_own_pool() -> None:
    assert (
        run(db={"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": {"max_size": 4}}})
        == []
    )


def test_w005_leftover_django_db_connection_pool_options() -> None:
    leftover = {"POOL_SIZE": 10, "MAX_OVERFLOW": 10, "RECYCLE": 3600}
    message = only(run(db=entry(MYSQL, POOL_OPTIONS=leftover)), "django_multipool.W005")
    assert "POOL_OPTIONS" in message.msg and "max_size" in message.hint
    assert run(db=entry(MYSQL)) == []


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_of_every_place_a_password_hides() -> None:
    settings_dict = {
        "PASSWORD": "p1",
        "NAME": "scott/tiger-pw@db.example:1521/svc",
        "OPTIONS": {
            "passwd": "p2",
            "sslpassword": "p4",
            "sslmode": "require",
            "pool": {"driver_options": {"password": "p3", "wallet_password": "p5"}},
        },
    }
    assert set(secrets_of(settings_dict)) == {"p1", "tiger-pw", "p2", "p3", "p4", "p5"}
    assert redact("a p1 b tiger-pw", secrets_of(settings_dict)) == f"a {REDACTED} b {REDACTED}"


def test_manage_py_check_reports_ids_and_never_the_password(tmp_path: Path) -> None:
    password = "multipool-check-SECRET-4711"
    databases = {
        "default": entry(PG, {"max_szie": 2}, PASSWORD=password),
        "legacy": {
            "ENGINE": "django.db.backends.postgresql",
            "CONN_MAX_AGE": 60,
            "PASSWORD": password,
        },
        "ora": entry(
            ORACLE, {"driver_options": {"homogeneous": False}}, NAME=f"scott/{password}@h/s"
        ),
    }
    (tmp_path / "check_settings.py").write_text(
        "import json, os\n"
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['django_multipool']\n"
        "ASGI_APPLICATION = 'project.asgi.application'\n"
        "DATABASES = json.loads(os.environ['CHECK_DATABASES'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "check_settings",
            "CHECK_DATABASES": json.dumps(databases),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "DATABASES['default']: (django_multipool.E002)" in output
    assert "DATABASES['legacy']: (django_multipool.W001)" in output
    assert "DATABASES['ora']: (django_multipool.E003)" in output
    assert password not in output
