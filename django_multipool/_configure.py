"""``OPTIONS["pool"]["configure"]``: your setup of each connection, after the backend's.

An adapter runs one setup callable on each physical connection it opens,
and again after ``reset="session"`` wiped the session. The backend supplies
one (time zone, role, isolation level, Oracle's ``ALTER SESSION``s); this
module puts the user's hook after it, so the hook sees a connection set up
as Django expects and may override what the backend set.

A hook that raises fails that connection: each adapter closes a connection
whose setup raised, never lends it, and reports the error as it reports a
failed connection attempt. The adapters log only the error's message; the
hook's own traceback is logged here.
"""

from __future__ import annotations

import logging
from typing import Any

from .adapter import ConnectionSetup
from .config import ConnectionHook, PoolConfig

__all__ = ["ConfiguredSetup", "compose_setup"]

logger = logging.getLogger("django_multipool")


class ConfiguredSetup:
    """The backend's per-connection setup, then the user's ``configure`` hook.

    ``backend`` stays reachable: a backend may read what its own setup
    learned (the Oracle backend's LIKE probe).
    """

    __slots__ = ("backend", "hook", "pool_name")

    def __init__(
        self, backend: ConnectionSetup | None, hook: ConnectionHook, *, pool_name: str
    ) -> None:
        self.backend = backend
        self.hook = hook
        self.pool_name = pool_name

    def __call__(self, connection: Any) -> None:
        if self.backend is not None:
            self.backend(connection)
        try:
            self.hook(connection)
        except Exception as exc:
            logger.warning(
                "pool %r: OPTIONS['pool']['configure'] (%s) raised; that connection is "
                "closed, not handed out",
                self.pool_name,
                describe(self.hook),
                exc_info=True,
            )
            exc.add_note(
                f"raised by OPTIONS['pool']['configure'] ({describe(self.hook)}) of pool "
                f"{self.pool_name!r}; the connection it was setting up was closed"
            )
            raise

    def __repr__(self) -> str:
        return f"<ConfiguredSetup {describe(self.hook)} after {self.backend!r}>"


def compose_setup(
    backend: ConnectionSetup | None, config: PoolConfig, *, alias: str, pool_name: str
) -> ConnectionSetup | None:
    """What the adapter runs per connection: the backend's setup, then ``configure``.

    Without ``configure`` it is the backend's own, unchanged. A dotted path
    is imported here (PoolConfigError if it does not name a callable).
    """
    hook = config.configure_hook(alias)
    if hook is None:
        return backend
    return ConfiguredSetup(backend, hook, pool_name=pool_name)


def describe(hook: object) -> str:
    """``module.qualname`` of a hook, for logs; never fails."""
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None)
    if isinstance(module, str) and isinstance(name, str):
        return f"{module}.{name}"
    try:
        return repr(hook)
    except Exception:
        return f"a {type(hook).__name__}"
