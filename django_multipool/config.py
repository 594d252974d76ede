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
import math
from collections.abc import Mapping
from typing import Any, Literal

from .errors import PoolConfigError

__all__ = ["PoolConfig"]

ResetMode = Literal["rollback", "session"]
RESET_MODES: tuple[ResetMode, ...] = ("rollback", "session")
ReleaseMode = Literal["request", "transaction"]
RELEASE_MODES: tuple[ReleaseMode, ...] = ("request", "transaction")

# Keys of other pools that users bring along when migrating; each maps to the
# advice we give instead of a bare "unknown key".
_FOREIGN_KEYS = {
    # psycopg_pool / Django's built-in PostgreSQL pool
    "num_workers": "driver_options",
    "reconnect_timeout": "driver_options",
    "configure": "driver_options",
    "kwargs": "driver_options",
    "open": "driver_options",
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
}


@dataclasses.dataclass(frozen=True, slots=True)
class PoolConfig:
    """Validated pool options. Times are in seconds; ``None`` means "never"."""

    #: Connections kept open even when idle, opened in the background.
    min_size: int = 1
    #: Hard cap on connections per process (idle + in use + being opened).
    max_size: int = 10
    #: Longest wait in acquire before :class:`PoolTimeout`.
    timeout: float = 30.0
    #: Most acquirers allowed to wait; more get :class:`TooManyRequests` at once. 0 = no cap.
    max_waiting: int = 0
    #: Retire a connection this long after it was opened (never while in use).
    max_lifetime: float | None = 30 * 60.0
    #: Close connections above ``min_size`` left unused this long.
    max_idle: float | None = 10 * 60.0
    #: Validate on checkout: True = always, False = never, N = only if idle >= N s.
    check: bool | float = 60.0
    #: On return: "rollback" (only if a transaction is open) or "session" (full reset).
    reset: ResetMode = "rollback"
    #: When a wrapper gives its connection back: "request" (when Django closes
    #: it) or "transaction" (as soon as no transaction, cursor or pinned() needs it).
    release: ReleaseMode = "request"
    #: Log a warning, with the stack that checked it out, for a connection held
    #: longer than this; and reclaim connections whose borrowing thread died.
    #: None = no leak detection (nothing is recorded on checkout).
    leak_timeout: float | None = None
    #: Pool name for logs and stats; None = the database alias.
    name: str | None = None
    #: Passed verbatim to the driver's pool; validated by the adapter and the driver.
    driver_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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
                f"{where} must be True or a dict of pool options, not {value!r}. "
                f"Use False to turn pooling off for this alias."
            )
        if conn_max_age != 0:
            raise PoolConfigError(
                f"DATABASES[{alias!r}]['CONN_MAX_AGE'] is {conn_max_age!r}, but a pool "
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
    if not isinstance(key, str):
        raise PoolConfigError(f"{where} has a key {key!r} that is not a string.")
    if key in _PARSERS:
        return key
    valid = ", ".join(sorted(_PARSERS))
    close = difflib.get_close_matches(key, _PARSERS, n=1, cutoff=0.6)
    # Another pool's option name says more about intent than spelling does.
    if key in _FOREIGN_KEYS:
        target = _FOREIGN_KEYS[key]
        if target == "driver_options":
            hint = (
                f"{key!r} is a driver-specific option: put it in "
                f"{where}['driver_options'] if your driver's pool accepts it."
            )
        else:
            hint = f"The shared schema calls this {target!r} (times in seconds)."
    elif close:
        hint = f"Did you mean {close[0]!r}?"
    else:
        hint = "Driver-specific options go in 'driver_options'."
    raise PoolConfigError(f"{where} has an unknown key {key!r}. {hint} Valid keys: {valid}.")


def _is_number(value: object) -> bool:
    # bool is an int subclass; True as a size or a duration is always a mistake.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_at_least(minimum: int) -> Any:
    def parse(value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PoolConfigError(
                f"{where} must be a whole number >= {minimum}, not {value!r} "
                f"({type(value).__name__})."
            )
        if value < minimum:
            raise PoolConfigError(f"{where} must be >= {minimum}, not {value}.")
        return value

    return parse


def _seconds(*, allow_none: bool) -> Any:
    def parse(value: object, where: str) -> float | None:
        if value is None and allow_none:
            return None
        if not _is_number(value):
            allowed = "a number of seconds > 0" + (" or None (never)" if allow_none else "")
            raise PoolConfigError(
                f"{where} must be {allowed}, not {value!r} ({type(value).__name__})."
            )
        seconds = float(value)  # type: ignore[arg-type]
        if math.isnan(seconds) or seconds <= 0 or math.isinf(seconds):
            hint = " Use None for 'never'." if allow_none else ""
            raise PoolConfigError(f"{where} must be a finite number > 0, not {value!r}.{hint}")
        return seconds

    return parse


def _parse_check(value: object, where: str) -> bool | float:
    if isinstance(value, bool):
        return value
    if _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            raise PoolConfigError(
                f"{where} must be True, False or a number of idle seconds >= 0, not {value!r}."
            )
        return seconds
    if callable(value):
        raise PoolConfigError(
            f"{where} takes True (validate every checkout), False (never) or N "
            f"(validate connections idle for N seconds or more), not a callable: "
            f"each vendor's adapter runs its own cheapest check."
        )
    raise PoolConfigError(
        f"{where} must be True, False or a number of idle seconds >= 0, not {value!r}."
    )


def _parse_reset(value: object, where: str) -> ResetMode:
    if value in RESET_MODES:
        return value
    close = difflib.get_close_matches(str(value), RESET_MODES, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PoolConfigError(
        f"{where} must be 'rollback' (roll back an open transaction on return) or "
        f"'session' (also reset all session state), not {value!r}.{hint}"
    )


def _parse_release(value: object, where: str) -> ReleaseMode:
    if value in RELEASE_MODES:
        return value
    close = difflib.get_close_matches(str(value), RELEASE_MODES, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise PoolConfigError(
        f"{where} must be 'request' (give the connection back when Django closes it) or "
        f"'transaction' (give it back after each statement or transaction), "
        f"not {value!r}.{hint}"
    )


def _parse_name(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PoolConfigError(f"{where} must be a non-empty string or None, not {value!r}.")
    return value


def _parse_driver_options(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PoolConfigError(
            f"{where} must be a dict of options for the driver's pool, not {value!r}."
        )
    for key in value:
        if not isinstance(key, str):
            raise PoolConfigError(f"{where} has a key {key!r} that is not a string.")
    # A private copy: the settings dict may be mutated later by the user or Django.
    return dict(value)


_PARSERS: dict[str, Any] = {
    "min_size": _int_at_least(0),
    "max_size": _int_at_least(1),
    "timeout": _seconds(allow_none=False),
    "max_waiting": _int_at_least(0),
    "max_lifetime": _seconds(allow_none=True),
    "max_idle": _seconds(allow_none=True),
    "check": _parse_check,
    "reset": _parse_reset,
    "release": _parse_release,
    "leak_timeout": _seconds(allow_none=True),
    "name": _parse_name,
    "driver_options": _parse_driver_options,
}
assert set(_PARSERS) == {f.name for f in dataclasses.fields(PoolConfig)}
