"""Property: ``PoolConfig.from_options`` accepts or raises ImproperlyConfigured, nothing else.

Settings are user input. Whatever lands in ``OPTIONS["pool"]`` (or in
``CONN_MAX_AGE`` beside it), the parser must answer with a config or with
an error that names the setting, never with a ``TypeError`` from deep inside
a comparison, a ``ValueError`` from printing a 5,000-digit integer, an
``OverflowError`` from converting one to a float, or whatever a hostile
``__eq__``, ``__hash__``, ``__repr__`` or ``__str__`` raises.

The strategies mix valid keys and values (so that many examples get past the
first check and reach the later ones) with anything hypothesis can build.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import math
import sys
import threading
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_multipool import PoolConfig


class Hostile(Exception):
    """Raised by the hostile objects below; must never escape the parser."""


class Hostility:
    """On only while the parser runs: hypothesis prints examples (and its
    strategies) with repr(), which must work for it to report a failure."""

    on = False


def attack(what: str) -> None:
    if Hostility.on:
        raise Hostile(what)


class RaisingEq:
    """Hashable, but comparing it with anything raises."""

    def __eq__(self, other: object) -> bool:
        attack("__eq__")
        return self is other

    def __ne__(self, other: object) -> bool:
        attack("__ne__")
        return self is not other

    def __hash__(self) -> int:
        return 42

    def __repr__(self) -> str:
        return "RaisingEq()"


class RaisingHash:
    def __hash__(self) -> int:
        attack("__hash__")
        return 43

    def __repr__(self) -> str:
        return "RaisingHash()"


class RaisingRepr:
    def __repr__(self) -> str:
        attack("__repr__")
        return "RaisingRepr()"

    __str__ = __repr__


class RaisingBool:
    def __bool__(self) -> bool:
        attack("__bool__")
        return True

    def __repr__(self) -> str:
        return "RaisingBool()"


class EvilStr(str):
    """A str whose overrides raise (but it hashes): keys and values may be str subclasses."""

    def __eq__(self, other: object) -> bool:
        attack("EvilStr.__eq__")
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        attack("EvilStr.__ne__")
        return str.__ne__(self, other)

    def __hash__(self) -> int:
        # Hashable like the str it is, so it can be a dict key; a lookup that
        # finds the hash then compares, and that raises.
        return str.__hash__(self)

    def __repr__(self) -> str:
        attack("EvilStr.__repr__")
        return f"EvilStr({str.__repr__(self)})"

    __str__ = __repr__

    def strip(self, chars: str | None = None) -> str:
        attack("EvilStr.strip")
        return str.strip(self, chars)


class EvilInt(int):
    """An int whose comparisons, conversions and repr raise."""

    def __lt__(self, other: object) -> bool:
        attack("EvilInt.__lt__")
        return int.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        attack("EvilInt.__le__")
        return int.__le__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        attack("EvilInt.__gt__")
        return int.__gt__(self, other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        attack("EvilInt.__ge__")
        return int.__ge__(self, other)  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        attack("EvilInt.__eq__")
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        attack("EvilInt.__ne__")
        return int.__ne__(self, other)

    def __hash__(self) -> int:
        return int.__hash__(self)

    def __float__(self) -> float:
        attack("EvilInt.__float__")
        return int.__float__(self)

    def __index__(self) -> int:
        attack("EvilInt.__index__")
        return int.__index__(self)

    def __repr__(self) -> str:
        attack("EvilInt.__repr__")
        return f"EvilInt({int.__repr__(self)})"

    __str__ = __repr__


class EvilFloat(float):
    def __float__(self) -> float:
        attack("EvilFloat.__float__")
        return float.__float__(self)

    def __lt__(self, other: object) -> bool:
        attack("EvilFloat.__lt__")
        return float.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        attack("EvilFloat.__le__")
        return float.__le__(self, other)  # type: ignore[operator]

    def __repr__(self) -> str:
        attack("EvilFloat.__repr__")
        return f"EvilFloat({float.__repr__(self)})"

    __str__ = __repr__


class Size(enum.IntEnum):
    SMALL = 2


class Big(int):
    """A huge int that hypothesis can print when it reports an example.

    The parser must treat it as the plain int it is (whose repr raises);
    test_huge_plain_integers below feeds plain ones, which hypothesis could
    not report.
    """

    def __repr__(self) -> str:
        return f"Big(<{self.bit_length()} bits>)"


KEYS = list(PoolConfig.keys())

#: Huge integers: their repr raises ValueError (the 4,300-digit limit) and
#: float() of them raises OverflowError.
HUGE = 10 ** (sys.get_int_max_str_digits() or 4300) + 1

hostile_objects = st.sampled_from(
    [
        RaisingEq(),
        RaisingRepr(),
        RaisingBool(),
        EvilStr("session"),
        EvilStr("max_size"),
        EvilStr("x"),
        EvilInt(3),
        EvilInt(-3),
        EvilFloat(1.5),
        EvilFloat(math.nan),
        Size.SMALL,
    ]
) | st.builds(RaisingHash)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([Big(HUGE), Big(-HUGE), 2**63, -(2**63), 2**1024]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.text(),
    st.binary(),
    st.sampled_from(["rollback", "session", "request", "transaction", "", " ", "Session"]),
    st.sampled_from([b"session", bytearray(b"rollback"), memoryview(b"x")]),
    st.timedeltas(),
    st.just(datetime.timedelta(seconds=5)),
    st.just(decimal.Decimal("5")),
    st.just(fractions.Fraction(1, 3)),
    st.just(object()),
    st.just(len),
    st.just(int),
    st.just(Ellipsis),
    st.just(NotImplemented),
    hostile_objects,
)

hashables = st.one_of(
    st.sampled_from(KEYS),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.tuples(st.integers(), st.text(max_size=5)),
    st.frozensets(st.integers(), max_size=3),
    st.just(RaisingEq()),
    st.just(RaisingRepr()),
    st.just(EvilInt(7)),
    st.just(Size.SMALL),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.sets(st.integers(), max_size=3),
        st.dictionaries(hashables, children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4).map(OrderedDict),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4).map(MappingProxyType),
    )


anything = st.recursive(scalars, _containers, max_leaves=12)

#: A plausible value for each key, so valid examples are common too.
plausible = {
    "min_size": st.integers(-2, 12) | anything,
    "max_size": st.integers(-2, 12) | anything,
    "timeout": st.floats(-1, 60) | anything,
    "max_waiting": st.integers(-2, 12) | anything,
    "max_lifetime": st.none() | st.floats(-1, 3600) | anything,
    "max_idle": st.none() | st.floats(-1, 3600) | anything,
    "check": st.booleans() | st.floats(-1, 120) | anything,
    "reset": st.sampled_from(["rollback", "session"]) | anything,
    "release": st.sampled_from(["request", "transaction"]) | anything,
    "leak_timeout": st.none() | st.floats(-1, 60) | anything,
    "name": st.none() | st.text() | anything,
    "driver_options": st.dictionaries(st.text(max_size=10), anything, max_size=3) | anything,
    "configure": st.none()
    | st.sampled_from(["myproject.db.configure", "configure", "a.", ".a", "a..b", "1a.b"])
    | st.sampled_from([print, len, lambda: None, lambda connection: None])
    | anything,
}

options = st.one_of(
    st.fixed_dictionaries({}, optional=plausible),
    st.fixed_dictionaries({}, optional=plausible).flatmap(
        lambda d: st.dictionaries(hashables, anything, max_size=3).map(
            lambda extra: {**extra, **d}
        )
    ),
    anything,
    st.just(True),
    st.just(False),
)

conn_max_ages = st.one_of(
    st.just(0), st.just(0.0), st.none(), st.integers(), st.floats(allow_nan=True), scalars
)


def parse_or_improperly_configured(value: Any, conn_max_age: Any, health_checks: bool) -> None:
    Hostility.on = True
    try:
        config = PoolConfig.from_options(
            value, alias="default", conn_max_age=conn_max_age, health_checks=health_checks
        )
    except ImproperlyConfigured as exc:
        # The message must exist and be printable: it is what the user reads.
        assert str(exc)
        return
    finally:
        Hostility.on = False
    # Accepted: it must be a usable, self-consistent config of plain types.
    assert isinstance(config, PoolConfig)
    assert type(config.min_size) is int and type(config.max_size) is int
    assert 0 <= config.min_size <= config.max_size
    assert type(config.max_waiting) is int and config.max_waiting >= 0
    # Durations must be waits Python can make: longer ones raise OverflowError
    # in acquire() or in a pool's timer thread, long after the settings loaded.
    assert type(config.timeout) is float and 0 < config.timeout <= threading.TIMEOUT_MAX
    for seconds in (config.max_lifetime, config.max_idle, config.leak_timeout):
        assert seconds is None or (type(seconds) is float and 0 < seconds <= threading.TIMEOUT_MAX)
    assert config.max_size <= sys.maxsize
    assert config.check in (True, False) or (
        type(config.check) is float and 0 <= config.check < math.inf
    )
    assert type(config.reset) is str and config.reset in ("rollback", "session")
    assert type(config.release) is str and config.release in ("request", "transaction")
    assert config.name is None or (type(config.name) is str and config.name.strip())
    assert all(type(key) is str for key in config.driver_options)
    # Never imported while parsing: a dotted path stays a plain string.
    assert (
        config.configure is None
        or callable(config.configure)
        or (type(config.configure) is str and "." in config.configure)
    )
    repr(config)  # printable: logs and the pool's repr show it
    assert conn_max_age == 0


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=options, conn_max_age=conn_max_ages, health_checks=st.booleans())
@example(value={"min_size": Big(-HUGE)}, conn_max_age=0, health_checks=False)
@example(value={"timeout": Big(HUGE)}, conn_max_age=0, health_checks=False)
@example(value={"check": Big(HUGE)}, conn_max_age=0, health_checks=False)
@example(value={"max_size": EvilInt(3)}, conn_max_age=0, health_checks=False)
@example(value={"timeout": EvilFloat(2.0)}, conn_max_age=0, health_checks=False)
@example(value={"reset": EvilStr("session")}, conn_max_age=0, health_checks=False)
@example(value={"reset": RaisingEq()}, conn_max_age=0, health_checks=False)
@example(value={"name": EvilStr("pool")}, conn_max_age=0, health_checks=False)
@example(value={EvilStr("max_size"): 3}, conn_max_age=0, health_checks=False)
@example(value={RaisingRepr(): 1}, conn_max_age=0, health_checks=False)
@example(value=RaisingRepr(), conn_max_age=0, health_checks=False)
@example(value={"driver_options": {RaisingRepr(): 1}}, conn_max_age=0, health_checks=False)
@example(value={"driver_options": RaisingRepr()}, conn_max_age=0, health_checks=False)
@example(value=True, conn_max_age=Big(HUGE), health_checks=False)
@example(value=True, conn_max_age=RaisingEq(), health_checks=False)
def test_from_options_accepts_or_raises_improperly_configured(
    value: Any, conn_max_age: Any, health_checks: bool
) -> None:
    parse_or_improperly_configured(value, conn_max_age, health_checks)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("number", [HUGE, -HUGE], ids=["huge", "-huge"])
def test_huge_plain_integers(key: str, number: int) -> None:
    parse_or_improperly_configured({key: number}, 0, False)
    parse_or_improperly_configured({"driver_options": {key: number}}, 0, False)


@pytest.mark.parametrize("number", [HUGE, -HUGE], ids=["huge", "-huge"])
def test_huge_plain_conn_max_age(number: int) -> None:
    parse_or_improperly_configured(True, number, False)


def test_the_hostile_objects_really_are_hostile() -> None:
    # If these stopped raising, the examples above would prove nothing.
    attempts = [
        lambda: RaisingEq() == 1,
        lambda: hash(RaisingHash()),
        lambda: repr(RaisingRepr()),
        lambda: bool(RaisingBool()),
        lambda: EvilStr("session") == "session",
        lambda: {"x": 1}[EvilStr("x")],
        lambda: EvilInt(3) < 1,
        lambda: float(EvilFloat(1.0)),
    ]
    Hostility.on = True
    try:
        for attempt in attempts:
            with pytest.raises(Hostile):
                attempt()
    finally:
        Hostility.on = False
    with pytest.raises(ValueError):
        repr(HUGE)  # else pick a larger HUGE
