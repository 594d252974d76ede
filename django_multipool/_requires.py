"""The driver versions django-multipool is tested with, and a check of their internals.

The adapters reach into their drivers where the public API stops short
(psycopg_pool's queue and counters, mysql-connector's packet broker,
python-oracledb's implementation objects). Such names change in any
release. Each module that uses some lists them (``*_privates.py`` beside it)
and calls :func:`require` at import, so that a driver release without one
fails there, naming the package, its version, the tested range and the fix,
instead of with an ``AttributeError`` in the middle of a checkout.

:class:`DriverIncompatible` is an ``ImportError``: the adapters import no
Django, and Django's ``load_backend()`` turns an ENGINE's ImportError into
its ImproperlyConfigured ("couldn't be imported"), with this one chained.

``TESTED`` is the one table of version ranges; pyproject.toml's bounds say
the same (tests/unit/test_driver_privates.py compares them).
docs/internals/driver-internals.md says why each name is used and what to
do when a release breaks one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["TESTED", "DriverIncompatible", "Private", "require"]

#: Distribution name -> (oldest supported, first release not tested).
TESTED: dict[str, tuple[str, str]] = {
    "django": ("5.2", "6.2"),
    "psycopg": ("3.1.12", "3.4"),
    "mysqlclient": ("2.2.1", "2.4"),
    "psycopg-pool": ("3.2", "3.4"),
    "mysql-connector-python": ("9.1", "26.11"),
    "oracledb": ("2.3", "26.2"),
}


class DriverIncompatible(ImportError):
    """The installed driver is outside the tested range, or lacks a name we use."""


@dataclass(frozen=True)
class Private:
    """One name of a package's internals that django-multipool relies on."""

    #: ``"module:Owner.name"``: the module, then attributes from it.
    path: str
    #: What breaks without it (shown in the error and the docs).
    why: str
    #: For a function we override or call by position: its parameter names.
    params: tuple[str, ...] | None = None
    #: An attribute the owner's code sets and reads on its instances (or on
    #: objects it handles, like connections): it must still name it. (No
    #: instance is built: some set such attributes only when opened.)
    instance: bool = False

    @property
    def name(self) -> str:
        return self.path.partition(":")[2]

    def problem(self) -> str | None:
        """None if the name is there in the expected shape; else what is wrong."""
        module_name, _, qualname = self.path.partition(":")
        parts = qualname.split(".")
        owner_parts = parts[:-1] if self.instance else parts
        try:
            target: Any = importlib.import_module(module_name)
            for part in owner_parts:
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            return f"it has no {self.path} ({type(exc).__name__}: {exc})"
        if self.instance:
            if parts[-1] not in names_in_code_of(target):
                return f"its {'.'.join(owner_parts)} no longer uses {parts[-1]}"
            return None
        if self.params is not None:
            try:
                found = tuple(inspect.signature(target).parameters)
            except (TypeError, ValueError):
                found = None
            if found != self.params:
                return (
                    f"{self.path} takes ({', '.join(found or ('?',))}), "
                    f"not ({', '.join(self.params)})"
                )
        return None


@functools.cache
def names_in_code_of(cls: type) -> frozenset[str]:
    """Every attribute or global name the methods of ``cls`` and its bases use.

    Read from the compiled code, so it works without source files.
    """
    found: set[str] = set()
    for klass in cls.__mro__[:-1]:  # not object
        for value in vars(klass).values():
            for function in _functions_of(value):
                codes = [function.__code__]
                while codes:
                    code = codes.pop()
                    found.update(code.co_names)
                    codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return frozenset(found)


def _functions_of(value: Any) -> list[Any]:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if f is not None]
    # Django's cached_property keeps the function as real_func, functools' as func.
    value = getattr(value, "real_func", None) or getattr(value, "func", value)
    value = inspect.unwrap(value) if callable(value) else value
    return [value] if isinstance(value, types.FunctionType) else []


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_tuple(version: str) -> tuple[int, ...]:
    """The release numbers of ``version``, pre-release and local parts dropped.

    "3.4.0rc1" is (3, 4, 0): outside a range that ends below 3.4, as it should be.
    """
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in match.group().split(".")) if match else ()


def tested_range(package: str) -> str:
    oldest, below = TESTED[package]
    return f">={oldest},<{below}"


def require(user: str, package: str, privates: Iterable[Private] = ()) -> None:
    """Raise DriverIncompatible unless ``package`` is in range and has every name.

    ``user`` is the module that needs them (for the message). Import time
    only: nothing here runs on a checkout.
    """
    oldest, below = TESTED[package]
    version = installed_version(package)
    problems = []
    if version is not None and not (
        version_tuple(oldest) <= version_tuple(version) < version_tuple(below)
    ):
        problems.append(f"django-multipool is tested with {package}{tested_range(package)}")
    for private in privates:
        problem = private.problem()
        if problem is not None:
            problems.append(f"{problem}, which {private.why}")
    if problems:
        raise DriverIncompatible(
            f"{user} cannot use {package} {version or '(version unknown)'}: "
            + "; ".join(problems)
            + f". Install a tested version (pip install '{package}{tested_range(package)}') "
            f"or upgrade django-multipool."
        )
