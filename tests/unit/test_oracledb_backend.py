"""The Oracle backend's Django wiring, with no Oracle server.

Wrappers are built on a refused port: pools are real python-oracledb thin
pools (opened with min_size=0 so nothing connects). Behaviour that needs a
session — what runs per checkout, test users, round trips — is in
tests/vendors/test_oracle.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import oracledb
import pytest
from django.db.backends.base import base as django_base
from django.db.backends.oracle import base as django_oracle
from django.db.utils import load_backend

from django_multipool import PoolConfigError
from django_multipool.adapters.oracledb import OracledbPoolAdapter
from django_multipool.backends.oracle import base as ours
from django_multipool.backends.registry import registry
from django_multipool.identity import PoolIdentity

from .test_django_tripwire import methods_touching_the_pool

ENGINE = "django_multipool.backends.oracle"
PASSWORD = "tiger-Secret-42"

# Django's Oracle modules → {method touching its pool: how we handle it}.
HANDLED: dict[str, dict[str, str]] = {
    "django.db.backends.oracle.base": {
        "is_pool": "overridden: True unless OPTIONS['pool'] is False",
        "pool": "overridden by PooledDatabaseWrapperMixin",
        "close_pool": "overridden by PooledDatabaseWrapperMixin",
        "get_new_connection": "overridden by PooledDatabaseWrapperMixin",
        "close_if_health_check_failed": "overridden: the pool checks on checkout",
        # Django 5.2 only: refuses pooling on cx_Oracle, then copies OPTIONS.
        "get_connection_params": "overridden: drops OPTIONS['pool']",
    },
    "django.db.backends.oracle.creation": {
        "_destroy_test_db": "overridden: ends the test user's sessions, restores USER",
    },
    "django.db.backends.oracle.features": {
        "django_test_skips": "Django's own, reading our is_pool",
    },
}


@pytest.fixture
def make_wrapper() -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(alias: str = "ora", pool: Any = None, **settings: Any) -> Any:
        entry: dict[str, Any] = {
            "ENGINE": ENGINE,
            "NAME": "127.0.0.1:1/FREEPDB1",  # nothing listens on port 1
            "USER": "scott",
            "PASSWORD": PASSWORD,
            "HOST": "",
            "PORT": "",
            "ATOMIC_REQUESTS": False,
            "AUTOCOMMIT": True,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "OPTIONS": {"pool": {"min_size": 0} if pool is None else pool},
            "TIME_ZONE": None,
            "TEST": {},
        }
        entry.update(settings)
        wrapper = load_backend(ENGINE).DatabaseWrapper(entry, alias)
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        registry.close(wrapper.alias)


# -- every Django call site is ours ------------------------------------------------------


@pytest.mark.parametrize("module_name", sorted(HANDLED))
def test_every_django_oracle_pool_call_site_is_handled(module_name: str) -> None:
    touching = methods_touching_the_pool(module_name)
    unhandled = touching - set(HANDLED[module_name])
    assert not unhandled, f"{module_name} touches its pool in {sorted(unhandled)}: handle them"
    assert touching, f"{module_name} no longer touches a pool: revisit HANDLED"


def test_overridden_methods_really_are_ours() -> None:
    classes = {"base": ours.DatabaseWrapper, "creation": ours.DatabaseCreation}
    for module_name, methods in HANDLED.items():
        kind = module_name.rsplit(".", 1)[1]
        for method, how in methods.items():
            if not how.startswith("overridden") or kind not in classes:
                continue
            cls = classes[kind]
            owner = next(k for k in cls.__mro__ if method in vars(k))
            assert owner.__module__.startswith("django_multipool"), (cls, method, owner)


def test_the_wrapper_uses_our_creation_class(make_wrapper: Any) -> None:
    assert isinstance(make_wrapper().creation, ours.DatabaseCreation)


# -- settings --------------------------------------------------------------------------------


def test_pooling_is_on_unless_pool_is_false(make_wrapper: Any) -> None:
    assert make_wrapper().is_pool is True
    # Django's own is_pool is off without OPTIONS["pool"]; our ENGINE pools.
    no_key = make_wrapper(alias="ora2")
    no_key.settings_dict["OPTIONS"].pop("pool")
    assert no_key.is_pool is True
    off = make_wrapper(alias="ora3", pool=False)
    assert off.is_pool is False and off.pool is None


def test_pool_false_connects_without_a_pool(make_wrapper: Any) -> None:
    from django.db import OperationalError

    # Django's own backend passes pool=False on to oracledb.connect(), a TypeError.
    off = make_wrapper(pool=False)
    with pytest.raises(OperationalError, match="DPY-6005"):
        off.ensure_connection()
    assert registry.current(off.alias) is None


def test_djangos_pooled_test_skips_apply(make_wrapper: Any) -> None:
    wrapper = make_wrapper()
    wrapper.__dict__["oracle_version"] = (23, 4)  # read by the skip list; no server here
    skips = wrapper.features.django_test_skips
    assert any("Pooling" in reason for reason in skips)


def test_conn_health_checks_means_check_on_every_checkout(make_wrapper: Any) -> None:
    assert make_wrapper(CONN_HEALTH_CHECKS=True).pool_config.check is True
    assert make_wrapper(alias="ora2").pool_config.check == 60.0


def test_conn_max_age_is_refused(make_wrapper: Any) -> None:
    with pytest.raises(PoolConfigError, match="CONN_MAX_AGE"):
        make_wrapper(CONN_MAX_AGE=60).pool  # noqa: B018


def test_pool_options_in_the_wrong_place_are_refused(make_wrapper: Any) -> None:
    wrapper = make_wrapper()
    wrapper.settings_dict["OPTIONS"]["max"] = 5  # where Django's own Oracle pool reads it
    with pytest.raises(PoolConfigError, match=r"OPTIONS\['pool'\]\['max_size'\]"):
        wrapper.pool  # noqa: B018


def test_connect_arguments_come_from_the_settings(make_wrapper: Any) -> None:
    wrapper = make_wrapper(
        NAME="FREE",
        HOST="db.example.com",
        PORT="1521",
        OPTIONS={"pool": {"min_size": 0}, "use_returning_into": False, "expire_time": 2},
    )
    kwargs = wrapper.pool_connect_kwargs()
    assert kwargs == {
        "user": "scott",
        "password": PASSWORD,
        # Django's dsn(): with PORT, NAME is a SID.
        "dsn": oracledb.makedsn("db.example.com", 1521, "FREE"),
        "expire_time": 2,
        # v$session.program: whose the session is (django_multipool.identity).
        "program": PoolIdentity.of_this_process(wrapper.alias, 10).text(),
    }
    assert "pool" not in wrapper.get_connection_params()


def test_the_users_own_program_wins(make_wrapper: Any) -> None:
    wrapper = make_wrapper(OPTIONS={"pool": True, "program": "billing-batch"})
    assert wrapper.pool_connect_kwargs()["program"] == "billing-batch"
    identity = PoolIdentity.parse(make_wrapper(alias="ora3").pool_connect_kwargs()["program"])
    assert identity is not None and identity.pid == os.getpid() and identity.pool == "ora3"


def test_the_pool_is_built_with_the_mapping(make_wrapper: Any) -> None:
    adapter = make_wrapper(pool={"min_size": 0, "max_size": 3, "timeout": 1.5}).pool
    assert isinstance(adapter, OracledbPoolAdapter)
    pool = adapter._pool
    assert (pool.min, pool.max, pool.wait_timeout) == (0, 3, 1500)
    assert pool.getmode == oracledb.POOL_GETMODE_TIMEDWAIT
    assert isinstance(adapter.connection_setup, ours.SessionSetup)


def test_configure_runs_after_djangos_session_setup(make_wrapper: Any) -> None:
    from django_multipool._configure import ConfiguredSetup

    seen: list[Any] = []

    def call_timeout(connection: Any) -> None:
        connection.executed.append("call_timeout = 30000")
        seen.append(connection)

    adapter = make_wrapper(pool={"min_size": 0, "configure": call_timeout}).pool
    setup = adapter.connection_setup
    assert isinstance(setup, ConfiguredSetup)
    assert isinstance(setup.backend, ours.SessionSetup)
    session = Recorder()
    setup(session)
    assert session.executed == [
        *setup.backend.statements,
        setup.backend.like_probe,
        "call_timeout = 30000",
    ]
    assert seen == [session]


def test_a_configure_dotted_path_that_does_not_import_fails_the_pool_build(
    make_wrapper: Any,
) -> None:
    wrapper = make_wrapper(pool={"min_size": 0, "configure": "multipool_nowhere.hook"})
    with pytest.raises(PoolConfigError, match="no module 'multipool_nowhere'"):
        wrapper.pool  # noqa: B018 - building it is the test


def test_pools_are_keyed_by_user(make_wrapper: Any) -> None:
    # Oracle's test databases are users: a pool must never serve another user.
    main = make_wrapper()
    main_pool = main.pool
    test_user = make_wrapper(USER="test_scott")
    assert test_user.pool is not main_pool
    assert main_pool.closed  # one live pool per alias: the old user's is retired
    assert test_user.pool._pool_kwargs["user"] == "test_scott"


def test_no_password_in_labels_or_reprs(make_wrapper: Any) -> None:
    wrapper = make_wrapper()
    assert PASSWORD not in wrapper.pool_label()
    assert PASSWORD not in repr(wrapper.pool)
    assert wrapper.pool_label() == "oracle://scott@127.0.0.1:1/FREEPDB1"
    # oracledb also accepts "user/password@dsn" as a connect string.
    inline = make_wrapper(alias="ora2", NAME=f"scott/{PASSWORD}@db.example.com/FREEPDB1")
    assert inline.pool_label() == "oracle://scott@db.example.com/FREEPDB1"


def test_a_health_check_builds_no_pool(make_wrapper: Any) -> None:
    wrapper = make_wrapper()
    wrapper.close_if_health_check_failed()
    assert registry.current(wrapper.alias) is None


def test_a_failed_connection_is_djangos_operational_error(make_wrapper: Any) -> None:
    from django.db import OperationalError

    wrapper = make_wrapper(pool={"min_size": 0, "timeout": 5})
    with pytest.raises(OperationalError, match="DPY-6005"):
        wrapper.ensure_connection()
    assert wrapper.pool.checked_out == 0


# -- what runs per session and per checkout -------------------------------------------------


def test_the_session_setup_is_djangos_statements() -> None:
    # Our copy of what Django's init_connection_state() sends, checked against
    # Django's source so an upgrade that changes it fails here.
    source = textwrap.dedent(
        inspect.getsource(django_oracle.DatabaseWrapper.init_connection_state)
    )
    constants = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    with_tz, without_tz = ours.SessionSetup(use_tz=True), ours.SessionSetup(use_tz=False)
    assert with_tz.statements[0] == "ALTER SESSION SET NLS_TERRITORY = 'AMERICA'"
    assert with_tz.statements[0] in constants
    assert without_tz.statements[1] in constants
    assert " TIME_ZONE = 'UTC'" in constants
    assert with_tz.statements[1] == without_tz.statements[1] + " TIME_ZONE = 'UTC'"


def test_the_like_probe_is_djangos_query() -> None:
    probe = ours.SessionSetup(use_tz=True).like_probe
    contains = django_oracle.DatabaseWrapper._standard_operators["contains"]
    assert probe == "SELECT 1 FROM DUAL WHERE DUMMY " + contains % ":1"
    assert "%" not in probe.replace("'%'", "")


class Recorder:
    """A stand-in cursor/connection recording statements (no server to run them)."""

    def __init__(self, failing: str | None = None) -> None:
        self.executed: list[str] = []
        self.failing = failing

    def cursor(self) -> Recorder:
        return self

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, params: Any = None) -> None:
        self.executed.append(sql)
        if self.failing and self.failing in sql:
            raise oracledb.DatabaseError("ORA-01722: invalid number")


def test_the_like_probe_runs_on_the_first_session_only() -> None:
    setup = ours.SessionSetup(use_tz=True)
    first, second = Recorder(), Recorder()
    setup(first)
    setup(second)
    assert first.executed == [*setup.statements, setup.like_probe]
    assert second.executed == list(setup.statements)
    assert setup.standard_like is True


def test_a_failing_like_probe_selects_djangos_likec_operators(make_wrapper: Any) -> None:
    setup = ours.SessionSetup(use_tz=True)
    setup(Recorder(failing="DUMMY"))
    assert setup.standard_like is False
    wrapper = make_wrapper()
    wrapper._pool_adapter = type("Lender", (), {"connection_setup": setup})()
    wrapper.connection = Recorder()
    django_base.RAN_DB_VERSION_CHECK.add(wrapper.alias)  # no server to ask its version
    try:
        wrapper.init_connection_state()
    finally:
        django_base.RAN_DB_VERSION_CHECK.discard(wrapper.alias)
        wrapper.connection = wrapper._pool_adapter = None
    assert wrapper.operators is wrapper._likec_operators
    assert wrapper.pattern_ops is wrapper._likec_pattern_ops


def test_the_like_probe_is_read_through_configure(make_wrapper: Any) -> None:
    # With OPTIONS["pool"]["configure"] the adapter's setup is the composition;
    # what Django's session setup learned is still found behind it.
    from django_multipool._configure import ConfiguredSetup

    setup = ours.SessionSetup(use_tz=True)
    setup(Recorder(failing="DUMMY"))
    composed = ConfiguredSetup(setup, lambda connection: None, pool_name="ora")
    wrapper = make_wrapper()
    wrapper._pool_adapter = type("Lender", (), {"connection_setup": composed})()
    wrapper.connection = Recorder()
    django_base.RAN_DB_VERSION_CHECK.add(wrapper.alias)
    try:
        wrapper.init_connection_state()
    finally:
        django_base.RAN_DB_VERSION_CHECK.discard(wrapper.alias)
        wrapper.connection = wrapper._pool_adapter = None
    assert wrapper.operators is wrapper._likec_operators


def test_a_pooled_checkout_sends_nothing(make_wrapper: Any) -> None:
    wrapper = make_wrapper()
    setup = ours.SessionSetup(use_tz=True)
    setup(Recorder())
    wrapper._pool_adapter = type("Lender", (), {"connection_setup": setup})()
    wrapper.connection = checkout = Recorder()
    django_base.RAN_DB_VERSION_CHECK.add(wrapper.alias)
    try:
        wrapper.init_connection_state()
    finally:
        django_base.RAN_DB_VERSION_CHECK.discard(wrapper.alias)
        wrapper.connection = wrapper._pool_adapter = None
    assert checkout.executed == []  # Django's own runs two ALTER SESSIONs here
    assert wrapper.operators is wrapper._standard_operators


def test_the_adapter_imports_neither_django_nor_another_driver() -> None:
    tree = ast.parse(inspect.getsource(importlib.import_module(OracledbPoolAdapter.__module__)))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert "oracledb" in imported
    assert not imported & {"django", "psycopg", "psycopg_pool", "mysql"}
