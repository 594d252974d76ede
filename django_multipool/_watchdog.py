"""Bound the pool's own round trips where the driver cannot time them out.

A stalled server (hung, or behind a network that stopped carrying packets
while the connections stay open) never answers. psycopg and mysql-connector
then wait in ``recv()`` for as long as the operating system keeps the TCP
connection, which is forever when the peer's kernel still acknowledges. The
pool's own round trips (the ``check`` ping at checkout, the rollback or
reset of a returned connection) must not wait that long: they run in the
threads of the application's requests.

:func:`bounded` arms an alarm for one round trip. If the round trip is not
over when the alarm goes off, one process-wide watchdog thread *interrupts*
the connection (shuts its socket down): the blocked call fails at once, as
on a connection the server closed, and the pool closes and replaces it.
Interrupting runs under the watchdog's lock and the caller cancels under
the same lock before it touches the connection again, so an interrupt never
reaches a connection that has moved on (or a reused file descriptor).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
from collections.abc import Callable
from time import monotonic
from types import TracebackType

from ._fork import after_fork_in_child

__all__ = ["MIN_ROUND_TRIP", "NoAnswer", "bounded", "left_until", "shut_down_socket"]

#: The least a round trip of the pool's own is given, even when the caller's
#: deadline is (almost) over: a healthy server answers well within it.
MIN_ROUND_TRIP = 0.1


def left_until(deadline: float) -> float:
    """Seconds a round trip may take to end by ``deadline`` (at least MIN_ROUND_TRIP)."""
    return max(deadline - monotonic(), MIN_ROUND_TRIP)


class NoAnswer(TimeoutError):
    """The server did not answer one of the pool's round trips in time."""


class _Watchdog:
    """One daemon thread and the deadlines of the round trips in progress.

    Few round trips are in progress at any moment (one per thread at most),
    so a dict scanned at each wake-up does. Arming and disarming are one dict
    operation each, atomic without taking the lock: the pool's release path
    arms one per reset that talks to the server. Firing pops under the lock,
    and a disarm that finds its alarm gone takes the lock, so it returns only
    once the interrupt is over.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._alarms: dict[int, tuple[float, Callable[[], None]]] = {}
        self._tokens = itertools.count()
        self._next_wake = 0.0
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, interrupt: Callable[[], None]) -> int:
        deadline = monotonic() + seconds
        token = next(self._tokens)
        self._alarms[token] = (deadline, interrupt)
        if deadline < self._next_wake or self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="multipool-watchdog", daemon=True
                    )
                    self._thread.start()
                self._wakeup.notify()
        return token

    def disarm(self, token: int) -> bool:
        """True if the alarm had not gone off (it never will now)."""
        if self._alarms.pop(token, None) is not None:
            return True
        with self._lock:  # it went off: wait until its interrupt is over
            return False

    def _run(self) -> None:
        with self._lock:
            while True:
                now = monotonic()
                pending = list(self._alarms.items())
                for token, (deadline, _) in pending:
                    if deadline <= now and (alarm := self._alarms.pop(token, None)):
                        # Under the lock: see disarm(). An interrupt is a
                        # shutdown() syscall, which does not block.
                        with contextlib.suppress(Exception):
                            alarm[1]()
                later = [deadline for _, (deadline, _) in pending if deadline > now]
                # An alarm armed while this ran may have seen the old
                # _next_wake and not notified: never sleep longer than _NAP.
                self._next_wake = min([*later, now + _NAP])
                self._wakeup.wait(self._next_wake - now)


# The longest the watchdog sleeps; an alarm goes off at most this late.
_NAP = 0.25


_watchdog = _Watchdog()
# In a forked child the thread is gone and the lock may have been held by it.
after_fork_in_child("threads", _watchdog._reset)


class bounded:
    """``with bounded(seconds, interrupt, what):`` the block's round trips get ``seconds``.

    Past that, ``interrupt`` makes the round trip in progress fail at once
    (see :func:`shut_down_socket`) and the block raises :class:`NoAnswer`.
    ``interrupt`` runs in the watchdog thread and must not block; ``what``
    names the round trip in the error. A class, not a generator: it is on
    the path of every checkout that pings.
    """

    __slots__ = ("_interrupt", "_seconds", "_token", "_what")

    def __init__(self, seconds: float, interrupt: Callable[[], None], what: str) -> None:
        self._seconds = seconds
        self._interrupt = interrupt
        self._what = what
        self._token = -1

    def __enter__(self) -> None:
        self._token = _watchdog.arm(self._seconds, self._interrupt)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if _watchdog.disarm(self._token):
            return
        # Gone off: the round trip failed because of it, or answered just as
        # the socket was shut down; either way the connection is unusable.
        raise NoAnswer(
            f"the server did not answer {self._what} within {self._seconds:.2f} s"
        ) from exc


def shut_down_socket(fileno: int) -> None:
    """Shut down the socket behind ``fileno`` without closing the descriptor.

    Its owner (the driver) still closes it; every blocked or later read and
    write on it fails at once.
    """
    duplicate = socket.socket(fileno=os.dup(fileno))
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    finally:
        duplicate.close()
