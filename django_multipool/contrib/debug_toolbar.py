"""A django-debug-toolbar panel: what each pool did for the request on screen.

Needs the ``debug-toolbar`` extra (``pip install 'django-multipool[debug-toolbar]'``).
Add the panel to the toolbar's list::

    from debug_toolbar.settings import PANELS_DEFAULTS

    DEBUG_TOOLBAR_PANELS = [*PANELS_DEFAULTS, "django_multipool.contrib.debug_toolbar.PoolPanel"]

Per alias served by a django-multipool ENGINE it shows the pool as the
request ends (size, idle, lent out, waiting, max_size) and what this
request's connection did: its checkouts from the pool, how long they
waited, and with ``release="transaction"`` how often the connection went
back between statements and was taken again, or why it was held.

The request's own numbers come from its own database wrappers (the
thread's ``connections[alias]``), which the panel instruments while the
toolbar handles the request and restores afterwards, as the toolbar's SQL
panel does with cursors: other threads' requests do not count, and
nothing is instrumented when the toolbar is off. The pool's numbers are the
whole process's, read once at the end. Nothing shown holds a host, user or
password.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from asgiref.sync import sync_to_async
from debug_toolbar.panels import Panel
from django.db import connections
from django.template import Context, Engine
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..backends.mixins import PooledDatabaseWrapperMixin
from ..backends.registry import registry

__all__ = ["PoolPanel", "RequestTally", "pool_rows"]

TEMPLATE: Final = "django_multipool/debug_toolbar/pool.html"
_TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates"

#: The wrapper methods the tally wraps: every checkout, retake and release
#: of a session goes through one of them (backends/mixins.py).
INSTRUMENTED: Final = (
    "get_new_connection",
    "_lease_again",
    "_take_back_parked",
    "_release_if_idle",
)


@dataclasses.dataclass
class RequestTally:
    """What one database wrapper did with its pool during one request."""

    #: Connections taken from the pool (its acquire()).
    checkouts: int = 0
    #: Checkouts that failed (PoolTimeout, TooManyRequests, a refused connect).
    failed: int = 0
    #: Seconds spent in those checkouts, waiting and connecting included.
    wait_s: float = 0.0
    #: The longest of them.
    max_wait_s: float = 0.0
    #: release="transaction": the session's connection went back to the pool
    #: between statements.
    releases: int = 0
    #: ... and the next statement took back the same connection (no checkout).
    retakes: int = 0

    def checked_out(self, seconds: float, *, failed: bool = False) -> None:
        self.checkouts += 1
        self.failed += failed
        self.wait_s += seconds
        self.max_wait_s = max(self.max_wait_s, seconds)

    def install(self, wrapper: PooledDatabaseWrapperMixin) -> RequestTally:
        """Count ``wrapper``'s checkouts until :meth:`uninstall`.

        Idempotent: a wrapper already counted keeps its tally, which is returned.
        """
        installed: RequestTally | None = wrapper.__dict__.get("_multipool_tally")
        if installed is not None:
            return installed
        missing = [name for name in INSTRUMENTED if not hasattr(wrapper, name)]
        if missing:
            raise RuntimeError(
                f"django_multipool.contrib.debug_toolbar does not match this django-multipool: "
                f"{type(wrapper).__qualname__} has no {', '.join(missing)}"
            )
        wrapper.__dict__["_multipool_tally"] = self
        for name in INSTRUMENTED:
            original = getattr(wrapper, name)
            setattr(wrapper, name, getattr(self, f"_wrap{name}")(wrapper, original))
        return self

    @staticmethod
    def uninstall(wrapper: PooledDatabaseWrapperMixin) -> None:
        """Remove what :meth:`install` put on ``wrapper`` (the class's methods show again)."""
        if wrapper.__dict__.pop("_multipool_tally", None) is None:
            return
        for name in INSTRUMENTED:
            wrapper.__dict__.pop(name, None)

    # Each wrapper below calls the original and only counts: same arguments,
    # same result, same exceptions.

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = perf_counter()
        try:
            result = call()
        except BaseException:
            self.checked_out(perf_counter() - started, failed=True)
            raise
        self.checked_out(perf_counter() - started)
        return result

    def _wrapget_new_connection(
        self, wrapper: PooledDatabaseWrapperMixin, original: Callable[[Any], Any]
    ) -> Callable[[Any], Any]:
        @functools.wraps(original)
        def get_new_connection(conn_params: Any) -> Any:
            if not wrapper.pool_enabled:
                return original(conn_params)
            return self._timed(lambda: original(conn_params))

        return get_new_connection

    def _wrap_lease_again(
        self, wrapper: PooledDatabaseWrapperMixin, original: Callable[[Any], None]
    ) -> Callable[[Any], None]:
        @functools.wraps(original)
        def lease_again(adapter: Any) -> None:
            # It takes back the parked connection if it can (a retake, counted
            # there), else checks one out, or starts over through connect()
            # (get_new_connection, counted there) if the pool was retired.
            counted = (self.retakes, self.checkouts)
            started = perf_counter()
            try:
                original(adapter)
            except BaseException:
                if (self.retakes, self.checkouts) == counted:
                    self.checked_out(perf_counter() - started, failed=True)
                raise
            if (self.retakes, self.checkouts) == counted:
                self.checked_out(perf_counter() - started)

        return lease_again

    def _wrap_take_back_parked(
        self, wrapper: PooledDatabaseWrapperMixin, original: Callable[[Any], bool]
    ) -> Callable[[Any], bool]:
        @functools.wraps(original)
        def take_back_parked(adapter: Any) -> bool:
            taken = original(adapter)
            self.retakes += bool(taken)
            return taken

        return take_back_parked

    def _wrap_release_if_idle(
        self, wrapper: PooledDatabaseWrapperMixin, original: Callable[[], None]
    ) -> Callable[[], None]:
        @functools.wraps(original)
        def release_if_idle() -> None:
            held = wrapper.connection is not None
            original()
            self.releases += held and wrapper.connection is None
            return None

        return release_if_idle


def pool_rows(
    tallies: dict[str, tuple[PooledDatabaseWrapperMixin, RequestTally]],
) -> list[dict[str, Any]]:
    """One JSON-ready row per alias: the pool now, and the request's tally.

    Reads the pools already open; opens none (a request that used no
    database leaves its pools as they were).
    """
    open_pools = dict(registry.items())
    rows = []
    for alias, (wrapper, tally) in tallies.items():
        adapter = open_pools.get(alias)
        row: dict[str, Any] = {
            "alias": alias,
            "vendor": wrapper.vendor,
            "checkouts": tally.checkouts,
            "failed": tally.failed,
            "wait_ms": round(tally.wait_s * 1000, 3),
            "max_wait_ms": round(tally.max_wait_s * 1000, 3),
            "releases": tally.releases,
            "retakes": tally.retakes,
            "held_for": wrapper._held_for,
            "pool": None,
        }
        if adapter is not None:
            stats = adapter.stats()
            row["name"] = adapter.name
            row["release"] = adapter.config.release
            row["pool"] = {
                "size": stats.pool_size,
                "available": stats.pool_available,
                "in_use": adapter.checked_out,
                "waiting": stats.requests_waiting,
                "min_size": stats.pool_min,
                "max_size": stats.pool_max,
            }
        else:
            try:
                config = wrapper.pool_config
            except Exception as exc:  # a misconfigured alias: say so, not break the toolbar
                row["name"], row["release"], row["error"] = alias, None, str(exc)
            else:
                row["name"], row["release"] = config.pool_name(alias), config.release
        row["released_between_statements"] = _released_text(row)
        rows.append(row)
    return rows


def _released_text(row: dict[str, Any]) -> str:
    """Whether the connection went back between statements, in words."""
    releases = row["releases"]
    if releases:
        return ngettext(
            "yes, %(n)d time (%(retaken)d taken back without a checkout)",
            "yes, %(n)d times (%(retaken)d taken back without a checkout)",
            releases,
        ) % {"n": releases, "retaken": row["retakes"]}
    if row["release"] == "request":
        return str(_('no: release="request" holds it until the request ends'))
    if row["held_for"]:
        return str(_("no: held until the request ends, because %(why)s")) % {
            "why": row["held_for"]
        }
    if not row["checkouts"]:
        return str(_("no: the request ran no statement on this alias"))
    return str(_("no: every statement ran inside a transaction or with a cursor open"))


class PoolPanel(Panel):
    """The django-multipool pools of each alias, and this request's checkouts."""

    title = _("Connection pools")
    nav_title = _("Pools")
    template = TEMPLATE
    # Under ASGI too: see aenable_instrumentation().
    is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tallies: dict[str, tuple[PooledDatabaseWrapperMixin, RequestTally]] = {}

    @property
    def nav_subtitle(self) -> str:
        rows = self.get_stats().get("pools", [])  # type: ignore[no-untyped-call]
        checkouts = sum(row["checkouts"] for row in rows)
        wait_ms = sum(row["wait_ms"] for row in rows)
        return ngettext(
            "%(n)d checkout, %(ms).1f ms", "%(n)d checkouts, %(ms).1f ms", checkouts
        ) % {"n": checkouts, "ms": wait_ms}

    def enable_instrumentation(self) -> None:
        for alias in connections:
            wrapper = connections[alias]
            if isinstance(wrapper, PooledDatabaseWrapperMixin) and wrapper.pool_enabled:
                self._tallies[alias] = (wrapper, RequestTally().install(wrapper))

    async def aenable_instrumentation(self) -> None:
        # Under ASGI a request's sync code (sync views, the ORM calls of
        # async ones) runs in one thread of its own, with wrappers that the
        # event loop's thread does not see: look them up from there.
        await sync_to_async(self.enable_instrumentation)()

    def disable_instrumentation(self) -> None:
        for wrapper, _tally in self._tallies.values():
            RequestTally.uninstall(wrapper)

    def generate_stats(self, request: Any, response: Any) -> None:
        self.record_stats({"pools": pool_rows(self._tallies)})  # type: ignore[no-untyped-call]

    @property
    def content(self) -> str:
        # Rendered by an engine of our own, so the panel works whether or not
        # "django_multipool" is in INSTALLED_APPS (the toolbar's panels
        # render through the project's engines, from the toolbar's app).
        stats = self.get_stats()  # type: ignore[no-untyped-call]
        return _engine().get_template(TEMPLATE).render(Context(stats))


@functools.cache
def _engine() -> Engine:
    return Engine(
        dirs=[str(_TEMPLATES)], libraries={"i18n": "django.templatetags.i18n"}, autoescape=True
    )
