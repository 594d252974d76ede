"""Driver-level cursors that tell their session when they close.

``release="transaction"`` holds a connection while any cursor of the
session is open (a chunked or server-side iterator reads from it), and
checks each statement for session state before it is sent. Both are done
on the cursor our backends create, the object Django's ``CursorWrapper``
wraps (``create_cursor()``), not on the ``CursorWrapper``: debug toolbars
and tracers replace or subclass that wrapper (django-debug-toolbar builds a
new one around the same driver cursor), but every one of them ends up
calling the driver cursor's ``execute()`` and ``close()``.

A backend makes its cursor classes counted with :func:`counted`, once per
class. Outside a ``release="transaction"`` session a counted cursor behaves
exactly as its base class (one attribute read more per call).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["CountedCursor", "counted"]


class CountedCursor:
    """Mixed in first: close() and execute() report to the counting session."""

    #: (the DatabaseWrapper, its cursor generation) while counted in a session.
    _multipool_counted: tuple[Any, int] | None = None

    def close(self) -> Any:
        try:
            return super().close()  # type: ignore[misc]
        finally:
            counted, self._multipool_counted = self._multipool_counted, None
            if counted is not None:  # not closed before
                counted[0]._cursor_closed(counted[1])

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        counted = self._multipool_counted
        if counted is not None:
            counted[0]._check_session_state(sql)
        return super().execute(sql, *args, **kwargs)  # type: ignore[misc]

    def executemany(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        counted = self._multipool_counted
        if counted is not None:
            counted[0]._check_session_state(sql)
        return super().executemany(sql, *args, **kwargs)  # type: ignore[misc]


@functools.cache
def counted(base: type) -> type:
    """``base`` with :class:`CountedCursor` mixed in (``base`` itself if it has it).

    Built on first use and cached: PostgreSQL's class is whatever the
    connection's ``cursor_factory`` is, which instrumentation (OpenTelemetry's
    psycopg integration) may have replaced with a subclass of Django's.
    """
    if issubclass(base, CountedCursor):
        return base

    class Counted(CountedCursor, base):  # type: ignore[misc]
        pass

    Counted.__name__ = f"Counted{base.__name__}"
    Counted.__qualname__ = f"counted({base.__qualname__})"
    return Counted
