"""Tripwires: every driver and Django internal we use is still there, in the shape we use.

The tables are the ones the modules check at import (``*_privates.py``, see
django_multipool/_requires.py); a release that drops or reshapes a name
fails here by name, and the adapters refuse it at import with the fix.
Names we only write, or that a driver must still read, have a test of
their own below. tests/unit/test_psycopg_lifo.py guards the copied method.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
import tomllib
import types
import uuid
from pathlib import Path
from typing import Any

import pytest

from django_multipool import _requires
from django_multipool._requires import TESTED, DriverIncompatible, Private, require

ROOT = Path(__file__).resolve().parents[2]

#: module holding a table -> (its tables, the package they belong to).
TABLES = {
    "django_multipool.adapters._psycopg_privates": (("PRIVATES", "psycopg-pool"),),
    "django_multipool.adapters._mysql_privates": (("PRIVATES", "mysql-connector-python"),),
    "django_multipool.adapters._oracledb_privates": (("PRIVATES", "oracledb"),),
    "django_multipool.adapters._mysqlclient_privates": (("PRIVATES", "mysqlclient"),),
    "django_multipool.backends._privates": (("PRIVATES", "django"),),
    "django_multipool.backends.postgresql._privates": (("PRIVATES", "django"),),
    "django_multipool.backends.oracle._privates": (("PRIVATES", "django"),),
    "django_multipool.backends.mysql_connector._privates": (
        ("DJANGO_PRIVATES", "django"),
        ("CONNECTOR_PRIVATES", "mysql-connector-python"),
    ),
}


def every_private() -> list[tuple[str, Private]]:
    found = []
    for module_name, tables in TABLES.items():
        module = importlib.import_module(module_name)
        for table, package in tables:
            found += [(package, private) for private in getattr(module, table)]
    return found


@pytest.mark.parametrize(
    ("package", "private"), every_private(), ids=lambda v: getattr(v, "path", v)
)
def test_name_is_there_in_the_shape_we_use(package: str, private: Private) -> None:
    assert private.problem() is None, (
        f"{package} {_requires.installed_version(package)}: {private.problem()}. "
        f"See docs/internals/driver-internals.md"
    )


def test_every_table_is_checked() -> None:
    # A *_privates.py module nobody lists here would go unguarded.
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "django_multipool").rglob("*privates.py")
    }
    assert modules == set(TABLES)


# -- versions --------------------------------------------------------------------------


def pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = list(project["project"]["dependencies"])
    for extra in project["project"]["optional-dependencies"].values():
        found += extra
    for group in project["dependency-groups"].values():
        found += [r for r in group if isinstance(r, str)]
    return found


@pytest.mark.parametrize("package", sorted(TESTED))
def test_pyproject_bounds_are_the_tested_range(package: str) -> None:
    spelled = re.compile(rf"^{re.escape(package)}(\[[^\]]*\])?(?P<spec>[<>=!~,.\d\s]*)$", re.I)
    specs = [m["spec"] for r in pyproject_requirements() if (m := spelled.match(r))]
    assert specs, f"pyproject.toml does not name {package}"
    oldest, below = TESTED[package]
    assert set(specs) == {f">={oldest},<{below}"}


@pytest.mark.parametrize("package", sorted(TESTED))
def test_installed_version_is_in_the_tested_range(package: str) -> None:
    version = _requires.installed_version(package)
    assert version is not None
    oldest, below = (_requires.version_tuple(v) for v in TESTED[package])
    assert oldest <= _requires.version_tuple(version) < below


def test_versions_compare_by_release_numbers() -> None:
    v = _requires.version_tuple
    assert v("26.10.0") > v("9.7.0")
    assert v("3.4.0rc1") == (3, 4, 0) >= v("3.4")  # a pre-release of the next is out of range
    assert v("3.3.0.dev1") < v("3.4")


# -- the message ---------------------------------------------------------------------


def test_a_version_out_of_range_names_package_version_range_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_requires, "installed_version", lambda package: "3.4.0")
    with pytest.raises(DriverIncompatible) as raised:
        require("django_multipool.adapters.psycopg", "psycopg-pool")
    message = str(raised.value)
    assert "psycopg-pool 3.4.0" in message
    assert "tested with psycopg-pool>=3.2,<3.4" in message
    assert "pip install 'psycopg-pool>=3.2,<3.4'" in message
    assert "upgrade django-multipool" in message


def test_too_old_a_version_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_requires, "installed_version", lambda package: "3.1.9")
    with pytest.raises(DriverIncompatible, match=r"psycopg-pool 3\.1\.9"):
        require("django_multipool.adapters.psycopg", "psycopg-pool")


def module_copy(monkeypatch: pytest.MonkeyPatch, name: str, **changes: Any) -> types.ModuleType:
    """A copy of module ``name`` in sys.modules, with ``changes`` (None: removed)."""
    original = importlib.import_module(name)
    copy = types.ModuleType(name)
    copy.__dict__.update(vars(original))
    for attr, value in changes.items():
        if value is None:
            del copy.__dict__[attr]
        else:
            setattr(copy, attr, value)
    monkeypatch.setitem(sys.modules, name, copy)
    return copy


def forget(monkeypatch: pytest.MonkeyPatch, prefixes: tuple[str, ...]) -> None:
    """Make the next import of these modules run them again (restored after the test)."""
    for name in [n for n in sys.modules if n.startswith(prefixes)]:
        parent, _, child = name.rpartition(".")
        monkeypatch.delitem(sys.modules, name)
        if parent in sys.modules:
            monkeypatch.delattr(sys.modules[parent], child, raising=False)


def class_copy(cls: type, **changes: Any) -> type:
    namespace = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
    for attr, value in changes.items():
        if value is None:
            namespace.pop(attr, None)
        else:
            namespace[attr] = value
    bases = tuple(b for b in cls.__bases__ if b is not object) or (object,)
    return type(cls.__name__, bases, namespace)


def test_a_missing_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg_pool = pytest.importorskip("psycopg_pool")
    from django_multipool.adapters._psycopg_privates import PRIVATES

    module_copy(
        monkeypatch,
        "psycopg_pool.pool",
        ConnectionPool=class_copy(psycopg_pool.ConnectionPool, _maybe_grow_pool=None),
    )
    with pytest.raises(DriverIncompatible) as raised:
        require("django_multipool.adapters.psycopg", "psycopg-pool", PRIVATES)
    message = str(raised.value)
    assert f"psycopg-pool {psycopg_pool.__version__}" in message
    assert "it has no psycopg_pool.pool:ConnectionPool._maybe_grow_pool" in message
    assert "retry at once when a client queues" in message  # why we need it
    assert "pip install 'psycopg-pool>=3.2,<3.4'" in message
    assert message.count("it has no") == 1  # the copy lacks nothing else


def test_a_method_that_changed_its_parameters_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg_pool = pytest.importorskip("psycopg_pool")
    from django_multipool.adapters._psycopg_privates import PRIVATES

    def _get_ready_connection(self: Any, deadline: float) -> Any: ...

    module_copy(
        monkeypatch,
        "psycopg_pool.pool",
        ConnectionPool=class_copy(
            psycopg_pool.ConnectionPool, _get_ready_connection=_get_ready_connection
        ),
    )
    changed = re.escape("takes (self, deadline), not (self, timeout)")
    with pytest.raises(DriverIncompatible, match=changed):
        require("django_multipool.adapters.psycopg", "psycopg-pool", PRIVATES)


def test_an_instance_attribute_the_code_no_longer_uses_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("psycopg_pool")

    class ConnectionPool:  # a release that renamed the wait queue
        def __init__(self) -> None:
            self._wait_queue: list[Any] = []

    module_copy(monkeypatch, "psycopg_pool.pool", ConnectionPool=ConnectionPool)
    waiting = Private("psycopg_pool.pool:ConnectionPool._waiting", "is read", instance=True)
    assert waiting.problem() == "its ConnectionPool no longer uses _waiting"
    renamed = Private("psycopg_pool.pool:ConnectionPool._wait_queue", "is read", instance=True)
    assert renamed.problem() is None


def test_the_code_scan_is_not_satisfied_by_any_name() -> None:
    pytest.importorskip("psycopg_pool")
    absent = Private("psycopg_pool.pool:ConnectionPool._no_such_name", "-", instance=True)
    assert absent.problem() is not None


def test_a_driver_without_a_name_fails_at_import_not_at_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The MySQL I/O layer imports _strioerror at module level: a connector
    # without it must fail with our message, not "cannot import name".
    pytest.importorskip("mysql.connector")
    module_copy(monkeypatch, "mysql.connector.network", _strioerror=None)
    forget(monkeypatch, ("django_multipool.adapters._mysql",))
    with pytest.raises(DriverIncompatible) as raised:
        importlib.import_module("django_multipool.adapters._mysql_io")
    assert "mysql.connector.network:_strioerror" in str(raised.value)
    assert "pip install 'mysql-connector-python>=" in str(raised.value)


def test_manage_py_check_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mysql.connector")
    from django_multipool import checks

    module_copy(monkeypatch, "mysql.connector.network", _strioerror=None)
    forget(
        monkeypatch,
        (
            "django_multipool.adapters._mysql",
            "django_multipool.adapters.mysql",
            "django_multipool.backends.mysql",
        ),
    )
    [error] = checks._check_backend_imports("default", "django_multipool.backends.mysql_connector")
    assert error.id == "django_multipool.E004"
    assert "_strioerror" in error.msg
    assert "not installed" not in error.msg


def test_djangos_backend_loader_chains_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mysql.connector")
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import load_backend

    module_copy(monkeypatch, "mysql.connector.network", _strioerror=None)
    forget(
        monkeypatch,
        (
            "django_multipool.adapters._mysql",
            "django_multipool.adapters.mysql",
            "django_multipool.backends.mysql",
        ),
    )
    with pytest.raises(ImproperlyConfigured) as raised:
        load_backend("django_multipool.backends.mysql_connector")
    assert isinstance(raised.value.__cause__, DriverIncompatible)


# -- names only a driver's own code shows the use of ---------------------------------


def assigned_in(function: Any, target: str = "self") -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == target
    }


def called_in(function: Any) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def test_django_still_keeps_the_transaction_state_a_forked_child_resets() -> None:
    # PooledDatabaseWrapperMixin._forget_inherited_connection() writes these:
    # a rename in Django would leave the child's state half reset, silently.
    from django.db.backends.base.base import BaseDatabaseWrapper

    ours = assigned_in(
        importlib.import_module(
            "django_multipool.backends.mixins"
        ).PooledDatabaseWrapperMixin._forget_inherited_connection
    )
    djangos = assigned_in(BaseDatabaseWrapper.__init__)
    theirs = {name for name in ours if not name.startswith("_")}
    assert theirs <= djangos, f"Django no longer sets {sorted(theirs - djangos)}"


def test_psycopg_pool_stamps_every_connection_it_opens() -> None:
    psycopg_pool = pytest.importorskip("psycopg_pool")
    # park() reads _expire_at on every connection: it must be set at connect.
    assert "_set_connection_expiry_date" in called_in(psycopg_pool.ConnectionPool._connect)


def test_mysql_connector_calls_the_status_hook_through_the_instance() -> None:
    # The adapter replaces _handle_server_status on each connection: the
    # connector must look it up on self, not call the class's directly.
    pytest.importorskip("mysql.connector")
    from mysql.connector.connection import MySQLConnection

    source = inspect.getsource(MySQLConnection)
    assert "self._handle_server_status(" in source


def test_the_mysql_backend_converter_is_dispatched_by_type_name() -> None:
    pytest.importorskip("mysql.connector")
    from django_multipool.backends.mysql_connector.base import DjangoMySQLConverter

    value = uuid.UUID(int=1)
    assert DjangoMySQLConverter().to_mysql(value) == str(value).encode()


def test_the_connector_backend_reads_use_pure() -> None:
    # The backend sets _use_pure on pooled wrappers for the operations to read.
    pytest.importorskip("mysql.connector")
    from mysql.connector.django import base

    assert "_use_pure" in assigned_in(base.DatabaseWrapper.__init__)


@pytest.mark.parametrize("cls_name", ["Connection", "ConnectionPool"])
def test_oracledb_finalisers_do_nothing_without_impl(cls_name: str) -> None:
    # A forked child clears _impl so that neither finaliser touches the
    # parent's session (adapters/oracledb.py, _abandon_parents_pool).
    oracledb = pytest.importorskip("oracledb")
    cls = getattr(oracledb, cls_name)
    obj = cls.__new__(cls)

    used: list[str] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            used.append(name)
            return lambda *args, **kwargs: None

    obj._impl = Recorder()
    obj.__del__()  # with an _impl, it closes it
    assert used
    used.clear()
    obj._impl = None
    obj.__del__()  # without, nothing
    assert not used


def test_the_docs_list_every_name() -> None:
    page = (ROOT / "docs" / "internals" / "driver-internals.md").read_text()
    missing = [p.path for _, p in every_private() if p.name.rsplit(".", 1)[-1] not in page]
    assert not missing, f"docs/internals/driver-internals.md does not mention {missing}"
