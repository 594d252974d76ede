"""PoolConfig: parsing and strict validation of OPTIONS["pool"]. No server needed."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_multipool import PoolConfig, PoolConfigError


def parse(value: Any, **kwargs: Any) -> PoolConfig:
    return PoolConfig.from_options(value, alias="default", **kwargs)


def test_true_means_the_documented_defaults() -> None:
    config = parse(True)
    assert config == PoolConfig()
    assert (config.min_size, config.max_size, config.timeout) == (1, 10, 30.0)
    assert (config.max_lifetime, config.max_idle, config.check) == (1800.0, 600.0, 60.0)
    assert (config.max_waiting, config.reset, config.name) == (0, "rollback", None)
    assert config.release == "request"
    assert config.driver_options == {}


def test_a_full_dict_is_taken_as_given() -> None:
    config = parse(
        {
            "min_size": 0,
            "max_size": 3,
            "timeout": 2,
            "max_waiting": 7,
            "max_lifetime": None,
            "max_idle": 30.5,
            "check": False,
            "reset": "session",
            "release": "transaction",
            "name": "reporting",
            "driver_options": {"num_workers": 2},
        }
    )
    assert config.timeout == 2.0 and isinstance(config.timeout, float)
    assert config.max_lifetime is None
    assert config.check is False
    assert config.release == "transaction"
    assert config.pool_name("default") == "reporting"
    assert config.driver_options == {"num_workers": 2}


def test_the_schema_lists_exactly_the_dataclass_fields() -> None:
    assert set(PoolConfig.keys()) == {f.name for f in dataclasses.fields(PoolConfig)}


def test_name_defaults_to_the_alias() -> None:
    assert parse(True).pool_name("replica") == "replica"


def test_settings_dict_is_not_mutated_and_driver_options_are_copied() -> None:
    options = {"max_size": 4, "driver_options": {"num_workers": 1}}
    config = parse(options)
    options["driver_options"]["num_workers"] = 9
    assert config.driver_options == {"num_workers": 1}
    assert options == {"max_size": 4, "driver_options": {"num_workers": 9}}


@pytest.mark.parametrize(
    ("check", "interval"), [(True, 0.0), (False, None), (0, 0.0), (60, 60.0), (0.5, 0.5)]
)
def test_check_interval(check: Any, interval: float | None) -> None:
    assert parse({"check": check}).check_interval == interval


def test_health_checks_turn_check_on_unless_the_dict_says_otherwise() -> None:
    assert parse(True, health_checks=True).check is True
    assert parse({"check": 5}, health_checks=True).check == 5.0
    assert parse({"check": False}, health_checks=True).check is False
    assert parse(True, health_checks=False).check == 60.0


def test_errors_are_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        parse({"max_sise": 3})


# Each row: (OPTIONS["pool"] value, extra kwargs, text the message must contain).
BAD_INPUTS: list[tuple[Any, dict[str, Any], list[str]]] = [
    # Unknown keys: typos get a close match, foreign pools' keys their shared name.
    ({"max_sise": 3}, {}, ["'max_sise'", "Did you mean 'max_size'?"]),
    ({"minsize": 1}, {}, ["Did you mean 'min_size'?"]),
    ({"timout": 1}, {}, ["Did you mean 'timeout'?"]),
    ({"max_lifetme": 60}, {}, ["Did you mean 'max_lifetime'?"]),
    ({"pool_size": 5}, {}, ["'pool_size'", "calls this 'max_size'"]),
    ({"recycle": 900}, {}, ["calls this 'max_lifetime'"]),
    ({"pre_ping": True}, {}, ["calls this 'check'"]),
    ({"wait_timeout": 5000}, {}, ["calls this 'timeout'"]),
    ({"num_workers": 2}, {}, ["driver-specific", "driver_options"]),
    # psycopg_pool keys with no place here: never advise driver_options, which refuses them.
    ({"configure": print}, {}, ["'configure' is another pool's option", "connection_created"]),
    ({"kwargs": {"sslmode": "require"}}, {}, ["another pool's option", "DATABASES entry"]),
    ({"open": True}, {}, ["another pool's option", "first query"]),
    ({"frobnicate": 1}, {}, ["unknown key 'frobnicate'", "Valid keys:", "max_size"]),
    ({1: 2}, {}, ["not a string"]),
    # The value itself.
    ("yes", {}, ["must be True or a dict", "Use False"]),
    (1, {}, ["must be True or a dict"]),
    ([("max_size", 2)], {}, ["must be True or a dict"]),
    # Sizes.
    ({"max_size": 0}, {}, ["['max_size']", ">= 1"]),
    ({"min_size": -1}, {}, ["['min_size']", ">= 0"]),
    ({"max_size": 2.5}, {}, ["['max_size']", "whole number", "float"]),
    ({"max_size": "10"}, {}, ["['max_size']", "whole number", "str"]),
    ({"max_size": True}, {}, ["['max_size']", "whole number", "bool"]),
    ({"min_size": 5, "max_size": 2}, {}, ["min_size (5) is larger than max_size (2)"]),
    ({"min_size": 11}, {}, ["min_size (11) is larger than max_size (10)"]),
    ({"max_waiting": -2}, {}, ["['max_waiting']", ">= 0"]),
    # Durations.
    ({"timeout": 0}, {}, ["['timeout']", "> 0"]),
    ({"timeout": -1}, {}, ["['timeout']", "> 0"]),
    ({"timeout": None}, {}, ["['timeout']", "number of seconds"]),
    ({"timeout": "30"}, {}, ["['timeout']", "str"]),
    ({"timeout": float("nan")}, {}, ["['timeout']", "finite"]),
    ({"timeout": float("inf")}, {}, ["['timeout']", "finite"]),
    ({"max_lifetime": 0}, {}, ["['max_lifetime']", "None for 'never'"]),
    ({"max_idle": -5}, {}, ["['max_idle']", "> 0"]),
    ({"max_idle": False}, {}, ["['max_idle']", "bool"]),
    # check, reset, name, driver_options.
    ({"check": -1}, {}, ["['check']", "idle seconds >= 0"]),
    ({"check": "always"}, {}, ["['check']", "True, False"]),
    ({"check": print}, {}, ["['check']", "not a callable"]),
    ({"reset": "rollbak"}, {}, ["['reset']", "Did you mean 'rollback'?"]),
    ({"reset": "DISCARD ALL"}, {}, ["['reset']", "'session'"]),
    ({"reset": None}, {}, ["['reset']"]),
    ({"release": "transactions"}, {}, ["['release']", "Did you mean 'transaction'?"]),
    ({"release": "statement"}, {}, ["['release']", "'request'", "'transaction'"]),
    ({"release": True}, {}, ["['release']", "not True"]),
    ({"release": None}, {}, ["['release']"]),
    ({"name": ""}, {}, ["['name']", "non-empty string"]),
    ({"name": 3}, {}, ["['name']"]),
    ({"driver_options": ["num_workers"]}, {}, ["['driver_options']", "must be a dict"]),
    ({"driver_options": {2: 1}}, {}, ["['driver_options']", "not a string"]),
    # Settings that go with a pool.
    (
        True,
        {"conn_max_age": 600},
        ["CONN_MAX_AGE", "600", "set CONN_MAX_AGE to 0", "max_lifetime"],
    ),
    ({"max_size": 2}, {"conn_max_age": None}, ["CONN_MAX_AGE", "None"]),
]


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"), BAD_INPUTS, ids=[repr(row[0])[:40] for row in BAD_INPUTS]
)
def test_bad_input_is_refused_with_a_helpful_message(
    value: Any, kwargs: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(PoolConfigError) as caught:
        parse(value, **kwargs)
    message = str(caught.value)
    assert "DATABASES['default']" in message
    for fragment in expected:
        assert fragment in message


def test_there_are_at_least_25_distinct_bad_inputs() -> None:
    assert len({repr((v, k)) for v, k, _ in BAD_INPUTS}) >= 25


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("max_size", "set OPTIONS['pool']['max_size'] instead"),
        ("configure", "connection_created"),
        ("kwargs", "DATABASES entry"),
        ("open", "first query"),
    ],
)
def test_psycopg_refuses_driver_options_it_sets_itself_with_a_readable_reason(
    key: str, expected: str
) -> None:
    pytest.importorskip("psycopg_pool")
    from django_multipool.adapters.psycopg import PsycopgPoolAdapter

    config = parse({"driver_options": {key: 1}})
    with pytest.raises(PoolConfigError, match=re.escape(expected)) as raised:
        PsycopgPoolAdapter(config, name="default", connect_kwargs={})
    assert "OPTIONS['pool'][\"" not in str(raised.value)  # no sentence used as a key
