"""What outlives a statement in ``release="transaction"``, found without a round trip.

Two things keep a session's connection after a statement ends, because
giving it back would lose something:

- **an open transaction Django did not open** (``cursor.execute("BEGIN")``,
  ``SET autocommit = 0`` on MySQL): told by the driver's own state
  (:meth:`~django_multipool.adapter.PoolAdapter.holds_transaction`), no
  SQL parsing;
- **session state** (``SET``, ``LISTEN``, ``PREPARE``, temporary tables,
  session advisory locks, MySQL user variables and ``USE``, Oracle
  ``ALTER SESSION``): told by the statement's text, with a test on its first
  characters and, for functions that can stand anywhere in a query
  (``pg_advisory_lock()``, ``GET_LOCK()``), a substring test first, so an
  ordinary ORM query costs a failed anchored match and two ``in`` tests.

Detection is deliberately syntactic: it may miss state created by a
function or a procedure it cannot see into (``pinned()`` is the way to say
so), and it never reports a ``SELECT`` that merely names a column ``lock``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from types import FrameType

__all__ = ["SessionStateDetector", "call_site", "detector_for"]


class SessionStateDetector:
    """Tells whether a statement leaves state in the session, from its text."""

    __slots__ = ("_anywhere", "_hints", "_start")

    def __init__(self, start: str, anywhere: str | None, hints: Iterable[str]) -> None:
        self._start = re.compile(r"\s*(?:" + start + r")", re.IGNORECASE).match
        self._anywhere = re.compile(anywhere, re.IGNORECASE).search if anywhere else None
        self._hints = tuple(hints)

    def __call__(self, sql: object) -> str | None:
        """The part of ``sql`` that creates session state, or None."""
        if not isinstance(sql, str):
            return None
        # What the ORM sends starts so: no anchored match to try.
        if not sql.startswith(_ORDINARY):
            found = self._start(sql)
            if found is not None:
                return found.group(0).strip()
        anywhere = self._anywhere
        if anywhere is not None:
            for hint in self._hints:
                if hint in sql:
                    found = anywhere(sql)
                    return None if found is None else found.group(0)
        return None


# Statement beginnings (as Django writes them) that create no session state
# by themselves; functions inside them are the substring tests' to find.
_ORDINARY = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "SAVEPOINT ", "RELEASE SAVEPOINT ")

_DETECTORS = {
    "postgresql": SessionStateDetector(
        # SET LOCAL, SET TRANSACTION and SET CONSTRAINTS end with the transaction.
        r"SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)\w+"
        r"|RESET\s+\w+|LISTEN\b|PREPARE\s+\w+|LOAD\b"
        r"|DECLARE\s+\w+[^;]*?\bWITH\s+HOLD\b"
        r"|CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\s",
        # Session-level advisory locks (the _xact_ ones end with the transaction),
        # and set_config(..., false), which is SET.
        r"\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(|\bset_config\s*\([^)]*,\s*false\s*\)",
        ("advisory_lock", "ADVISORY_LOCK", "set_config", "SET_CONFIG"),
    ),
    "mysql": SessionStateDetector(
        r"SET\s+\S+|USE\s+\S+|PREPARE\s+\w+|LOCK\s+TABLES?\b"
        r"|CREATE\s+TEMPORARY\s",
        r"\bGET_LOCK\s*\(|@\w+\s*:=",
        ("GET_LOCK", "get_lock", ":="),
    ),
    "oracle": SessionStateDetector(
        r"ALTER\s+SESSION\b",
        r"\bDBMS_SESSION\.SET_\w+|\bDBMS_APPLICATION_INFO\.SET_\w+",
        ("DBMS_", "dbms_"),
    ),
}


def detector_for(vendor: str) -> SessionStateDetector | None:
    return _DETECTORS.get(vendor)


# Frames of these packages are skipped when naming where a statement came
# from: the caller is the user's code, not Django or a tracing wrapper.
_NOT_THE_CALLER = (
    "django.",
    "django_multipool.",
    "debug_toolbar.",
    "sentry_sdk.",
    "opentelemetry.",
    "silk.",
    "psycopg",
    "mysql.connector",
    "oracledb",
    "contextlib",
    "asgiref.",
)


def call_site(skip: int = 1) -> tuple[str, int, str]:
    """(file, line, function) of the first frame outside Django and the libraries."""
    frame: FrameType | None = sys._getframe(skip)
    fallback = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        where = (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        if fallback is None:
            fallback = where
        if not module.startswith(_NOT_THE_CALLER) and module not in ("django", "contextlib"):
            return where
        frame = frame.f_back
    return fallback or ("<unknown>", 0, "<unknown>")
