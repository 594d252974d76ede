"""A driver for the pool core (django_multipool/_pool.py) that does nothing.

The core's bookkeeping needs no server: tests subclass this and override the
operations their case is about (connect, close, refusal, ...).
"""

from __future__ import annotations

from typing import Any


class NullDriver:
    """Every Driver operation, each a no-op that reports a healthy connection."""

    def connect(self) -> Any:
        raise NotImplementedError("a stand-in driver says how it connects")

    def refusal(self, exc: BaseException) -> str | None:
        return None

    def close(self, conn: Any) -> None:
        pass

    def ping(self, conn: Any) -> None:
        pass

    def is_broken(self, conn: Any) -> bool:
        return False

    def needs_reset(self, conn: Any) -> bool:
        return False

    def reset(self, conn: Any) -> None:
        pass

    def abandon(self, conn: Any) -> None:
        pass

    def interrupt(self, conn: Any) -> None:
        pass
