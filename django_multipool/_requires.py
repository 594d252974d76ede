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

import importlib
import importlib.metadata
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["TESTED", "DriverIncompatible", "Private", "require"]

#: Distribution name -> (oldest supported, first release not tested).
TESTED: dict[str, tuple[str, str]] = {
    "django": ("5.2", "6.2"),
    "psycopg": ("3.1.12", "3.4"),
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
    #: Builds the object that carries the name, when an instance sets it
    #: (``self._lock = ...`` in ``__init__``); its last part is looked up there.
    probe: Callable[[], Any] | None = None

    @property
    def name(self) -> str:
        return self.path.partition(":")[2]

    def problem(self) -> str | None:
        """None if the name is there in the expected shape; else what is wrong."""
        module_name, _, qualname = self.path.partition(":")
        parts = qualname.split(".")
        try:
            if self.probe is not None:
                target: Any = getattr(self.probe(), parts[-1])
            else:
                target = importlib.import_module(module_name)
                for part in parts:
                    target = getattr(target, part)
        except Exception as exc:  # a probe may fail any way a constructor can
            return f"it has no {self.path} ({type(exc).__name__}: {exc})"
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


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_tuple(version: str) -> tuple[int, ...]:
    """The release numbers of ``version``: "3.3.0rc1" -> (3, 3, 0), below 3.3.0's final."""
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
