"""The shared pool schema: ``OPTIONS["pool"]`` parsed and validated once.

Every key means the same on every vendor; adapters translate it to their
driver. Validation is strict: an unknown key, a wrong type or an impossible
combination raises :class:`~django_multipool.PoolConfigError` (an
``ImproperlyConfigured``) that names the key, what is allowed and, for typos,
the closest valid key. Nothing is silently dropped or clamped.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import keyword
import math
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .errors import PoolConfigError

__all__ = ["ConnectionHook", "PoolConfig"]

#: ``OPTIONS["pool"]["configure"]`` once imported: called with the driver's connection.
ConnectionHook = Callable[[Any], object]

ResetMode = Literal["rollback", "session"]
ReleaseMode = Literal["request", "transaction"]
SessionStateMode = Literal["hold", "error"]
BehindMode = Literal["pgbouncer-transaction"]

CONNECT_ARGUMENTS_COME_FROM_DATABASES = (
    "The connection arguments come from the DATABASES entry (NAME, USER, PASSWORD, "
    "HOST, PORT, and OPTIONS outside 'pool')."
)
CONFIGURE_EXAMPLE = "'myproject.db.configure_connection'"
POOLS_OPEN_AT_FIRST_USE = (
    "A pool opens at its alias's first query and opens min_size connections in the "
    "background; there is nothing to set."
)

# Keys of other pools that users bring along when migrating; each maps to the
# advice we give instead of a bare "unknown key".
_FOREIGN_KEYS = {
    # psycopg_pool / Django's built-in PostgreSQL pool
    "num_workers": "driver_options",
    "reconnect_timeout": "driver_options",
    # python-oracledb / Django's built-in Oracle pool
    "min": "min_size",
    "max": "max_size",
    "increment": "driver_options",
    "getmode": "timeout",
    "wait_timeout": "timeout",
    "ping_interval": "check",
    "max_lifetime_session": "max_lifetime",
    # django-db-connection-pool (SQLAlchemy QueuePool)
    "pool_size": "max_size",
    "max_overflow": "max_size",
    "recycle": "max_lifetime",
    "pre_ping": "check",
    # HikariCP habits
    "max_pool_size": "max_size",
    "idle_timeout": "max_idle",
    "connection_timeout": "timeout",
    # Per-connection setup callbacks
    "session_callback": "configure",  # python-oracledb
    "setup": "configure",
}
# Keys of other pools that have no place here at all, with the reason.
_NOT_NEEDED = {
    "kwargs": CONNECT_ARGUMENTS_COME_FROM_DATABASES,
    "conninfo": CONNECT_ARGUMENTS_COME_FROM_DATABASES,
    "open": POOLS_OPEN_AT_FIRST_USE,
}


@dataclasses.dataclass(frozen=True, slots=True)
class PoolConfig:
    """Validated pool options. Times are in seconds; ``None`` means "never"."""

    #: Connections kept open even when idle, opened in the background.
    min_size: int = dataclasses.field(
        default=1,
        metadata={
            "unit": "connections",
            "edge": (
                "A whole number from 0 up to `max_size` (larger is a `PoolConfigError`). "
                "They are opened in the background when the pool opens, at the alias's first "
                "query, which does not wait for them; 0 opens nothing until a request needs a "
                "connection. `max_idle` never closes connections below `min_size`."
            ),
        },
    )
    #: Hard cap on connections per process (idle + in use + being opened).
    max_size: int = dataclasses.field(
        default=10,
        metadata={
            "unit": "connections per process",
            "edge": (
                "A whole number, at least 1. It counts connections idle, in use and being "
                "opened; when all are in use, a request waits up to `timeout`. The cap is per "
                "process and alias: 4 worker processes with `max_size=10` may hold 40 "
                "connections to the server."
            ),
        },
    )
    #: Longest wait in acquire before :class:`PoolTimeout`.
    timeout: float = dataclasses.field(
        default=30.0,
        metadata={
            "unit": "seconds",
            "edge": (
                "A finite number greater than 0 (int or float): there is no 'wait forever'. "
                "When it runs out the request gets `PoolTimeout`, a `django.db.OperationalError` "
                "whose message names the pool, `max_size`, the wait and how many others wait, "
                "and says so when the pool could not open connections. A server that refuses "
                "(down, unknown host, login refused) is not waited for: `ConnectRefused`, a "
                "`PoolTimeout`, comes after one attempt. Oracle rounds it up to whole "
                "milliseconds."
            ),
        },
    )
    #: Most acquirers allowed to wait; more get :class:`TooManyRequests` at once. 0 = no cap.
    max_waiting: int = dataclasses.field(
        default=0,
        metadata={
            "unit": "requests",
            "edge": (
                "A whole number, at least 0; 0 means no cap. When `max_waiting` requests already "
                "wait, the next one is refused at once with `TooManyRequests` (a "
                "`django.db.OperationalError`) instead of queueing: load is shed, not piled up."
            ),
        },
    )
    #: Retire a connection this long after it was opened (never while in use).
    max_lifetime: float | None = dataclasses.field(
        default=30 * 60.0,
        metadata={
            "unit": "seconds",
            "edge": (
                "A finite number greater than 0, or `None` for never. A connection in use is "
                "never closed: it is retired when it comes back past its limit (MySQL/MariaDB "
                "also retire idle ones, Oracle also checks at checkout), and a replacement is "
                "opened when one is needed. Each connection's limit is shortened by up to 5 % "
                "at random so that connections opened together do not expire together. Set it "
                "below any server or proxy limit on a connection's age."
            ),
        },
    )
    #: Close connections above ``min_size`` left unused this long.
    max_idle: float | None = dataclasses.field(
        default=10 * 60.0,
        metadata={
            "unit": "seconds",
            "edge": (
                "A finite number greater than 0, or `None` for never. Only connections above "
                "`min_size` are closed. How promptly is the driver's: psycopg_pool closes at "
                "most one connection per `max_idle` period, and python-oracledb sweeps with a "
                "timer, so there an idle connection may live up to about twice `max_idle`."
            ),
        },
    )
    #: Validate on checkout: True = always, False = never, N = only if idle >= N s.
    check: bool | float = dataclasses.field(
        default=60.0,
        metadata={
            "unit": "seconds idle (for a number)",
            "edge": (
                "`True` validates every checkout, at one round trip each; `False` never does; a "
                "number N (at least 0) validates only connections that sat idle N seconds or "
                "more, so a busy pool pays nothing (0 acts as `True`). A connection that fails "
                "is closed and replaced, and the request gets another within its `timeout`. "
                "Negative, infinite or NaN numbers and callables are refused. "
                "`CONN_HEALTH_CHECKS = True` makes it `True` unless `check` is set."
            ),
        },
    )
    #: On return: "rollback" (only if a transaction is open) or "session" (full reset).
    reset: ResetMode = dataclasses.field(
        default="rollback",
        metadata={
            "unit": "none",
            "edge": (
                '`"rollback"` or `"session"`; anything else is refused, with a close match. '
                '`"rollback"` rolls back an open or failed transaction (a round trip only then) '
                "and leaves session state (`SET`, temporary tables, advisory locks) to the next "
                'borrower, as Django\'s own pools do. `"session"` also wipes the session '
                "(`DISCARD ALL` on PostgreSQL, `COM_RESET_CONNECTION` on MySQL/MariaDB, then the "
                "per-connection setup again): at least one round trip per return. Oracle's thin "
                "driver cannot reset a session, so there it is ended and a new one opened: a new "
                "connection per checkout."
            ),
        },
    )
    #: Your own setup of each connection: a callable, or the dotted path of one,
    #: called with the driver's connection after the backend's own setup, once
    #: per connection opened and again after each ``reset="session"``.
    configure: ConnectionHook | str | None = dataclasses.field(
        default=None,
        metadata={
            "unit": "none",
            "edge": (
                "A callable taking one argument, the driver's own connection (a "
                "`psycopg.Connection`, a mysqlclient `Connection` or mysql-connector's "
                "`MySQLConnection`, an "
                "`oracledb.Connection`), or the dotted path of one as a string "
                "(`'myproject.db.configure_connection'`, imported when the pool is built; "
                "`manage.py check` imports it too); `None` for none. Refused: anything else, "
                "async and generator functions, and callables that cannot take one argument. "
                "It runs after the backend's setup (time zone, role, isolation level, Oracle's "
                "`ALTER SESSION`s), in the pool's connecting thread rather than a request's: "
                "use the connection it is given, not `django.db.connection`. It runs on every "
                "vendor and in both release modes, so every checkout sees what it set; on "
                "Oracle DRCP at every checkout. If it raises, that connection is closed, never "
                "handed out, and the error is logged with its traceback (logger "
                "`django_multipool`); requests then get the error (Oracle) or `PoolTimeout` "
                "quoting it (PostgreSQL, MySQL/MariaDB), as for a failed connection attempt. "
                "Leave no transaction open in it (that is refused too). It is part of the "
                "pool's key like the rest of `OPTIONS`: a function compares by identity, a "
                "dotted path as a string. Django's `connection.copy()` copies the settings "
                "deeply, which duplicates a `functools.partial`, an instance or a bound method: "
                "the copy's key then differs and the alias's pool is rebuilt whenever the copy "
                "and the original take turns, so prefer a function or a dotted path."
            ),
        },
    )
    #: When a wrapper gives its connection back: "request" (when Django closes
    #: it) or "transaction" (as soon as no transaction, cursor or pinned() needs it).
    release: ReleaseMode = dataclasses.field(
        default="request",
        metadata={
            "unit": "none",
            "edge": (
                '`"request"` or `"transaction"`; anything else is refused, with a close match. '
                'With `"transaction"` the connection goes back after each statement in '
                "autocommit mode and after each outermost `atomic()`, unless a transaction opened "
                "with SQL is open, a cursor is open, or a statement created session state (see "
                "`session_state`); `pinned()` holds it across statements; `reset` runs at each "
                "release."
            ),
        },
    )
    #: With release="transaction": what a statement that creates session state
    #: outside atomic() and pinned() does. "hold": the session keeps its
    #: connection until the request ends (one warning per call site);
    #: "error": the statement is refused.
    session_state: SessionStateMode = dataclasses.field(
        default="hold",
        metadata={
            "unit": "none",
            "edge": (
                '`"hold"` or `"error"`; anything else is refused, with a close match. Only '
                'read with `release="transaction"`, for statements outside `atomic()` and '
                "`pinned()` that leave state in the server session (`SET` but not `SET LOCAL`, "
                "`LISTEN`, `PREPARE`, temporary tables, session advisory locks, MySQL user "
                'variables, `USE`, `GET_LOCK()`, Oracle `ALTER SESSION`). `"hold"`: the session '
                "keeps its connection until Django closes it (the request ends), so the state "
                "lasts as in request mode, and one WARNING per call site says so. "
                '`"error"`: the statement is not sent; `SessionStateError` (a Django '
                "`ProgrammingError`) names it and the fix. Detected from the SQL text, "
                "without a round trip."
            ),
        },
    )
    #: A pooler between the pool and the server that lends server sessions per
    #: transaction; None = the pool talks to the server itself.
    behind: BehindMode | None = dataclasses.field(
        default=None,
        metadata={
            "unit": "none",
            "edge": (
                '`None` or `"pgbouncer-transaction"` (PostgreSQL only; also right for any '
                "pooler that lends a server session per transaction: PgCat, Supavisor, Odyssey "
                "in transaction mode); anything else is refused, with a close match. There, the "
                "server session changes between transactions, so state a statement leaves in "
                "it reaches another client: with it set, such statements (the ones "
                "`session_state` lists) are refused with `SessionStateError` in both release "
                "modes, inside `atomic()` and `pinned()` too, and the system checks require "
                "`DISABLE_SERVER_SIDE_CURSORS = True` and warn about `prepare_threshold` and "
                "`assume_role` (docs/scaling.md). PgBouncer in session mode needs nothing: "
                "leave it `None`. Nothing detects a pooler by itself: PostgreSQL's protocol "
                "does not show one."
            ),
        },
    )
    #: Log a warning, with the stack that checked it out, for a connection held
    #: longer than this; and reclaim connections whose borrowing thread died.
    #: None = no leak detection (nothing is recorded on checkout).
    leak_timeout: float | None = dataclasses.field(
        default=None,
        metadata={
            "unit": "seconds",
            "edge": (
                "A finite number greater than 0, or `None` (no leak warnings, no stack recorded "
                "per checkout). A connection held longer is reported once, as a WARNING "
                "on the `django_multipool.leaks` logger with the stack that checked it out, and "
                "counted in `leaks_detected`; it stays with its borrower. A connection whose "
                "borrowing thread has ended is taken back, closed, replaced and counted in "
                "`leaks_reclaimed` (without `leak_timeout` too, once its borrower, the Django "
                "wrapper, has been garbage-collected). A background thread looks every quarter "
                "of `leak_timeout` (and at least once a second), so a warning may come that "
                "much late. Cost: each "
                "checkout records its stack (per statement with release='transaction'); deeper "
                "stacks cost more. The benchmark results page has the measured cost."
            ),
        },
    )
    #: Pool name for logs and stats; None = the database alias.
    name: str | None = dataclasses.field(
        default=None,
        metadata={
            "unit": "none",
            "edge": (
                "A non-empty string, or `None` for the database alias. It names the pool in log "
                "messages and in `PoolTimeout` / `TooManyRequests` messages; `pool_stats()` is "
                "keyed by alias whatever the name."
            ),
        },
    )
    #: Passed verbatim to the driver's pool; validated by the adapter and the driver.
    driver_options: Mapping[str, Any] = dataclasses.field(
        default_factory=dict,
        # Not in repr: it may hold a password (the MySQL drivers take connect()
        # arguments here) and values whose repr fails.
        repr=False,
        metadata={
            "unit": "none",
            "edge": (
                "A dict with string keys, copied when the pool is built. What it takes is the "
                "driver's: psycopg_pool `ConnectionPool` arguments on PostgreSQL (`num_workers`, "
                "`reconnect_timeout`...), extra `MySQLdb.connect()` or "
                "`mysql.connector.connect()` arguments on MySQL/MariaDB (checked against the "
                "driver's list; the other driver's arguments name the other ENGINE), "
                "`oracledb.create_pool()` "
                "arguments on Oracle (`increment`, `ping_timeout`, `stmtcachesize`, `cclass`...). "
                "A key that a shared option sets (`min_size`, oracledb's `wait_timeout`...) is "
                "refused, naming the shared option; so are options a backend cannot honour."
            ),
        },
    )

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_options(
        cls,
        value: object,
        *,
        alias: str,
        conn_max_age: float | None = 0,
        health_checks: bool = False,
    ) -> PoolConfig:
        """Parse ``OPTIONS["pool"]`` (``True`` or a dict) for database ``alias``.

        ``conn_max_age`` and ``health_checks`` are the alias's ``CONN_MAX_AGE``
        and ``CONN_HEALTH_CHECKS``: a pool replaces persistent connections, and
        health checks turn ``check`` on unless the dict sets it.
        """
        where = f"DATABASES[{alias!r}]['OPTIONS']['pool']"
        if value is True or value is None:
            options: Mapping[str, Any] = {}
        elif isinstance(value, Mapping):
            options = value
        else:
            raise PoolConfigError(
                f"{where} must be True or a dict of pool options, not {_shown(value)}. "
                f"Use False to turn pooling off for this alias."
            )
        max_age = _plain(conn_max_age)
        if not (isinstance(max_age, int | float) and max_age == 0):
            raise PoolConfigError(
                f"DATABASES[{alias!r}]['CONN_MAX_AGE'] is {_shown(conn_max_age)}, but a pool "
                f"replaces persistent connections: set CONN_MAX_AGE to 0 and use "
                f"{where}['max_lifetime'] to limit how long a connection lives."
            )

        values = {}
        for key, raw in options.items():
            values[_check_key(key, where)] = raw
        if health_checks and "check" not in values:
            values["check"] = True

        parsed = {key: _PARSERS[key](raw, f"{where}[{key!r}]") for key, raw in values.items()}
        config = cls(**parsed)
        config._validate_together(where)
        return config

    def pool_name(self, alias: str) -> str:
        return self.name if self.name is not None else alias

    def configure_hook(self, alias: str) -> ConnectionHook | None:
        """``configure`` as a callable, importing a dotted path; None if unset.

        Called when the pool is built (and by ``manage.py check``), not while
        parsing: the module named may import models, which settings cannot.
        """
        value = self.configure
        if value is None or not isinstance(value, str):
            return value
        return _import_hook(value, f"DATABASES[{alias!r}]['OPTIONS']['pool']['configure']")

    def _validate_together(self, where: str) -> None:
        if self.min_size > self.max_size:
            raise PoolConfigError(
                f"{where}: min_size ({self.min_size}) is larger than max_size "
                f"({self.max_size}). Set min_size <= max_size."
            )

    @property
    def check_interval(self) -> float | None:
        """Idle seconds after which a connection is validated; None = never."""
        if self.check is False:
            return None
        if self.check is True:
            return 0.0
        return float(self.check)


def _check_key(key: object, where: str) -> str:
    key = _plain(key)
    if not isinstance(key, str):
        raise PoolConfigError(f"{where} has a key {_shown(key)} that is not a string.")
    if key in _PARSERS:
        return key
    valid = ", ".join(sorted(_PARSERS))
    close = difflib.get_close_matches(key, _PARSERS, n=1, cutoff=0.6)
    # Another pool's option name says more about intent than spelling does.
    if key in _NOT_NEEDED:
        hint = f"{key!r} is another pool's option. {_NOT_NEEDED[key]}"
    elif key in _FOREIGN_KEYS:
        target = _FOREIGN_KEYS[key]
        if target == "driver_options":
            hint = (
                f"{key!r} is a driver-specific option: put it in "
                f"{where}['driver_options'] if your driver's pool accepts it."
            )
        elif target == "configure":
            hint = (
                f"The shared schema calls this {target!r}: a callable taking the driver's "
                f"connection, or its dotted path."
            )
        else:
            hint = f"The shared schema calls this {target!r} (times in seconds)."
    elif close:
        hint = f"Did you mean {close[0]!r}?"
    else:
        hint = "Driver-specific options go in 'driver_options'."
    raise PoolConfigError(f"{where} has an unknown key {key!r}. {hint} Valid keys: {valid}.")


# Sizes beyond this are no size at all; durations beyond this overflow
# Python's waits (OverflowError in acquire() or in a pool's timer thread).
_MAX_INT = sys.maxsize
_MAX_SECONDS = threading.TIMEOUT_MAX


def _plain(value: object) -> object:
    """The builtin value inside a subclass of str, int or float (IntEnum, SafeString...).

    Settings are user input: from here on nothing a subclass overrides
    (``__eq__``, ``__hash__``, ``__lt__``, ``__float__``, ``__repr__``) runs
    while the value is compared, converted or printed.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    return value


def _shown(value: object) -> str:
    """``repr(value)`` for an error message, whatever the value."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        # repr() of an int past 4,300 digits raises ValueError.
        return f"{'-' if value < 0 else ''}an integer of {abs(value).bit_length()} bits"
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__} whose repr() fails"
    return text if len(text) <= 100 else f"{text[:97]}..."


def _is_number(value: object) -> bool:
    # bool is an int subclass; True as a size or a duration is always a mistake.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_at_least(minimum: int) -> Any:
    def parse(value: object, where: str) -> int:
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PoolConfigError(
                f"{where} must be a whole number >= {minimum}, not {_shown(value)} "
                f"({type(value).__name__})."
            )
        if value < minimum:
            raise PoolConfigError(f"{where} must be >= {minimum}, not {_shown(value)}.")
        if value > _MAX_INT:
            raise PoolConfigError(f"{where} must be <= {_MAX_INT}, not {_shown(value)}.")
        return value

    return parse


def _seconds(*, allow_none: bool) -> Any:
    def parse(value: object, where: str) -> float | None:
        if value is None and allow_none:
            return None
        value = _plain(value)
        if not _is_number(value):
            allowed = "a number of seconds > 0" + (" or None (never)" if allow_none else "")
            raise PoolConfigError(
                f"{where} must be {allowed}, not {_shown(value)} ({type(value).__name__})."
            )
        seconds = _float(value)
        hint = " Use None for 'never'." if allow_none else ""
        if math.isnan(seconds) or seconds <= 0 or math.isinf(seconds):
            raise PoolConfigError(
                f"{where} must be a finite number > 0, not {_shown(value)}.{hint}"
            )
        if seconds > _MAX_SECONDS:
            raise PoolConfigError(
                f"{where} must be at most {_MAX_SECONDS:.0f} s, the longest wait Python's "
                f"threading allows, not {_shown(value)}.{hint}"
            )
        return seconds

    return parse


def _float(value: object) -> float:
    """A number as a float; inf for an int too large for one (refused by the callers)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


def _parse_check(value: object, where: str) -> bool | float:
    value = _plain(value)
    if isinstance(value, bool):
        return value
    if _is_number(value):
        seconds = _float(value)
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            raise PoolConfigError(
                f"{where} must be True, False or a number of idle seconds >= 0, "
                f"not {_shown(value)}."
            )
        return seconds
    if callable(value):
        raise PoolConfigError(
            f"{where} takes True (validate every checkout), False (never) or N "
            f"(validate connections idle for N seconds or more), not a callable: "
            f"each vendor's adapter runs its own cheapest check."
        )
    raise PoolConfigError(
        f"{where} must be True, False or a number of idle seconds >= 0, not {_shown(value)}."
    )


def _close_match(value: object, choices: tuple[str, ...]) -> str:
    close = (
        difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
        if isinstance(value, str)
        else []
    )
    return f" Did you mean {close[0]!r}?" if close else ""


def _one_of(meanings: Mapping[str, str]) -> Any:
    """A parser for a key whose value is one of ``meanings``' keys, each told with its meaning."""
    modes = tuple(meanings)
    allowed = " or ".join(f"{mode!r} ({meaning})" for mode, meaning in meanings.items())

    def parse(value: object, where: str) -> str:
        value = _plain(value)
        if isinstance(value, str) and value in modes:
            return value
        raise PoolConfigError(
            f"{where} must be {allowed}, not {_shown(value)}.{_close_match(value, modes)}"
        )

    return parse


_parse_reset = _one_of(
    {
        "rollback": "roll back an open transaction on return",
        "session": "also reset all session state",
    }
)
_parse_release = _one_of(
    {
        "request": "give the connection back when Django closes it",
        "transaction": "give it back after each statement or transaction",
    }
)
_parse_session_state = _one_of(
    {
        "hold": "keep the connection until the request ends",
        "error": "refuse the statement",
    }
)
_BEHIND_MODES = ("pgbouncer-transaction",)


def _parse_behind(value: object, where: str) -> str | None:
    value = _plain(value)
    if value is None or value in _BEHIND_MODES:
        return value
    raise PoolConfigError(
        f"{where} must be None (the pool talks to the server) or 'pgbouncer-transaction' "
        f"(a pooler lends server sessions per transaction), not {_shown(value)}."
        f"{_close_match(value, _BEHIND_MODES)} PgBouncer in session mode needs None."
    )


def _parse_name(value: object, where: str) -> str | None:
    if value is None:
        return None
    value = _plain(value)
    if not isinstance(value, str) or not value.strip():
        raise PoolConfigError(f"{where} must be a non-empty string or None, not {_shown(value)}.")
    return value


def _parse_driver_options(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        # The type only: a misplaced value here may well hold a password.
        raise PoolConfigError(
            f"{where} must be a dict of options for the driver's pool, "
            f"not a {type(value).__name__}."
        )
    options = {}
    for key, option in value.items():
        plain = _plain(key)
        if not isinstance(plain, str):
            raise PoolConfigError(f"{where} has a key {_shown(key)} that is not a string.")
        options[plain] = option
    # A private copy: the settings dict may be mutated later by the user or Django.
    return options


def _parse_configure(value: object, where: str) -> ConnectionHook | str | None:
    if value is None:
        return None
    plain = _plain(value)
    if isinstance(plain, str):
        parts = plain.split(".")
        if len(parts) < 2 or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
            raise PoolConfigError(
                f"{where} must be a callable or the dotted path of one, as "
                f"{CONFIGURE_EXAMPLE} (a module, then the callable in it), not {_shown(plain)}."
            )
        return plain  # imported when the pool is built: see PoolConfig.configure_hook()
    if not callable(value):
        raise PoolConfigError(
            f"{where} must be a callable taking the driver's connection, or the dotted path "
            f"of one ({CONFIGURE_EXAMPLE}), not {_shown(value)} ({type(value).__name__})."
        )
    _check_hook(value, where)
    return value


def _import_hook(path: str, where: str) -> ConnectionHook:
    module_path, _, name = path.rpartition(".")
    fix = f"Give the dotted path of a callable, as {CONFIGURE_EXAMPLE}."
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        missing = exc.name is not None and (
            module_path == exc.name or module_path.startswith(f"{exc.name}.")
        )
        why = (
            f"there is no module {exc.name!r}"
            if missing
            else f"importing module {module_path!r} failed: {type(exc).__name__}: {exc}"
        )
        raise PoolConfigError(f"{where} is {path!r}, but {why}. {fix}") from exc
    except Exception as exc:  # whatever the module raised while it was imported
        raise PoolConfigError(
            f"{where} is {path!r}, but importing module {module_path!r} failed: "
            f"{type(exc).__name__}: {exc}. {fix}"
        ) from exc
    try:
        hook = getattr(module, name)
    except AttributeError:
        raise PoolConfigError(
            f"{where} is {path!r}, but module {module_path!r} has no attribute {name!r}. {fix}"
        ) from None
    if not callable(hook):
        raise PoolConfigError(
            f"{where} is {path!r}, which is {_shown(hook)} ({type(hook).__name__}), not a "
            f"callable. {fix}"
        )
    _check_hook(hook, f"{where} ({path!r})")
    return hook  # type: ignore[no-any-return]


def _check_hook(hook: Callable[..., object], where: str) -> None:
    """Refuse a callable that cannot run as a connection's setup: the pool
    would only find out at its first connection, in a background thread."""
    try:
        is_async = inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook)
        is_generator = inspect.isgeneratorfunction(hook)
        signature = inspect.signature(hook)
    except Exception:  # builtins without a signature, objects whose attributes raise
        return
    if is_async or is_generator:
        kind = "an async function" if is_async else "a generator function"
        raise PoolConfigError(
            f"{where} is {kind}: the pool calls it in its own threads and neither awaits "
            f"nor iterates what it returns, so it would do nothing. Make it a plain "
            f"function taking the driver's connection."
        )
    try:
        signature.bind(None)
    except TypeError:
        raise PoolConfigError(
            f"{where} cannot be called with one argument, the driver's connection: its "
            f"signature is {signature}. Give it exactly one required parameter."
        ) from None


_PARSERS: dict[str, Any] = {
    "min_size": _int_at_least(0),
    "max_size": _int_at_least(1),
    "timeout": _seconds(allow_none=False),
    "max_waiting": _int_at_least(0),
    "max_lifetime": _seconds(allow_none=True),
    "max_idle": _seconds(allow_none=True),
    "check": _parse_check,
    "reset": _parse_reset,
    "configure": _parse_configure,
    "release": _parse_release,
    "session_state": _parse_session_state,
    "behind": _parse_behind,
    "leak_timeout": _seconds(allow_none=True),
    "name": _parse_name,
    "driver_options": _parse_driver_options,
}
assert set(_PARSERS) == {f.name for f in dataclasses.fields(PoolConfig)}
