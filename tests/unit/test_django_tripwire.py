"""Fail loudly when a Django release adds a place where its backends touch a pool.

Django's PostgreSQL and Oracle wrappers call their built-in pool from a
handful of methods. Our mixin must take over each one, either by overriding
it or because the method only reaches the pool through something we
override. A new call site in a future Django shows up here first.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

POOL_NAMES = {"pool", "close_pool", "is_pool", "_connection_pools"}

# Django module → {method: how our backend handles it}.
HANDLED: dict[str, dict[str, str]] = {
    "django.db.backends.postgresql.base": {
        "pool": "overridden by PooledDatabaseWrapperMixin",
        "close_pool": "overridden by PooledDatabaseWrapperMixin",
        "get_new_connection": "overridden by PooledDatabaseWrapperMixin",
        "_close": "overridden by PooledDatabaseWrapperMixin",
        "close_if_health_check_failed": "overridden by PooledDatabaseWrapperMixin",
        "ensure_timezone": "reaches the pool only through close_pool()",
        "init_connection_state": "reads self.pool, which is ours",
        "get_connection_params": "pops OPTIONS['pool'] so the driver never sees it",
    },
    "django.db.backends.postgresql.creation": {
        "_clone_test_db": "overridden by PooledDatabaseCreationMixin",
        "_destroy_test_db": "overridden by PooledDatabaseCreationMixin",
    },
    "django.db.backends.postgresql.features": {
        "django_test_skips": "extended by PooledDatabaseFeaturesMixin",
    },
}

OURS = {
    "django.db.backends.postgresql": "django_multipool.backends.postgresql.base",
}


def methods_touching_the_pool(module_name: str) -> set[str]:
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    found = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                # self.pool, self.close_pool(), ... and OPTIONS.get("pool") / ["pool"].
                if (isinstance(node, ast.Attribute) and node.attr in POOL_NAMES) or (
                    isinstance(node, ast.Constant) and node.value == "pool"
                ):
                    found.add(fn.name)
    return found


@pytest.mark.parametrize("module_name", sorted(HANDLED))
def test_every_django_pool_call_site_is_handled(module_name: str) -> None:
    touching = methods_touching_the_pool(module_name)
    unhandled = touching - set(HANDLED[module_name])
    assert not unhandled, (
        f"{module_name} touches its pool in {sorted(unhandled)}: make the mixin handle "
        f"them and list them in HANDLED"
    )
    # A call site that disappeared is fine, but the table should follow Django.
    assert touching, f"{module_name} no longer touches a pool at all: revisit HANDLED"


@pytest.mark.parametrize("django_package", sorted(OURS))
def test_overridden_methods_really_are_overridden(django_package: str) -> None:
    ours = importlib.import_module(OURS[django_package])
    classes = {
        "base": ours.DatabaseWrapper,
        "creation": ours.DatabaseCreation,
        "features": ours.DatabaseFeatures,
    }
    for module_name, methods in HANDLED.items():
        if not module_name.startswith(django_package + "."):
            continue
        cls = classes[module_name.rsplit(".", 1)[1]]
        django_cls = next(b for b in cls.__mro__ if b.__module__ == module_name)
        for method, how in methods.items():
            if not how.startswith("overridden"):
                continue
            owner = next(k for k in cls.__mro__ if method in vars(k))
            assert owner is not django_cls and owner.__module__.startswith("django_multipool"), (
                f"{cls.__name__}.{method} still comes from {owner.__module__}"
            )
