"""PoolConfig: parsing and strict validation of OPTIONS["pool"]. No server needed."""

from __future__ import annotations

import copy
import dataclasses
import functools
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
    # configure: a callable taking the connection, or a dotted path.
    ({"configure": 42}, {}, ["['configure']", "callable", "dotted path", "(int)"]),
    ({"configure": b"myproject.db.hook"}, {}, ["['configure']", "callable", "(bytes)"]),
    ({"configure": "configure_connection"}, {}, ["['configure']", "dotted path", "a module"]),
    ({"configure": "myproject.db."}, {}, ["['configure']", "dotted path"]),
    ({"configure": "my-project.db.hook"}, {}, ["['configure']", "dotted path"]),
    ({"configure": "myproject.class.hook"}, {}, ["['configure']", "dotted path"]),
    ({"configure": lambda: None}, {}, ["['configure']", "one argument", "signature is ()"]),
    ({"configure": lambda conn, x: None}, {}, ["['configure']", "one argument"]),
    ({"setup": print}, {}, ["'setup'", "calls this 'configure'", "dotted path"]),
    ({"session_callback": print}, {}, ["calls this 'configure'"]),
    ({"configur": print}, {}, ["Did you mean 'configure'?"]),
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
        ("configure", "set OPTIONS['pool']['configure'] instead"),
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


# -- configure: the per-connection hook -------------------------------------------------


def set_up(connection: Any) -> None:
    """A hook, named by a dotted path in the tests below."""


async def set_up_async(connection: Any) -> None:
    pass


NOT_CALLABLE = 42


class Hooks:
    def method(self, connection: Any) -> None:
        pass

    def __call__(self, connection: Any) -> None:
        pass


HERE = __name__  # this module's dotted name, as the test run imported it


@pytest.mark.parametrize(
    "hook",
    [
        set_up,
        lambda connection: None,
        functools.partial(lambda connection, x: None, x=1),
        Hooks().method,
        Hooks(),
        print,  # a builtin: *args
        len,  # a builtin with a signature of one argument
        int,  # a builtin type without a signature: nothing to check
        lambda connection, *, label="x": None,
    ],
    ids=lambda hook: getattr(hook, "__name__", type(hook).__name__),
)
def test_configure_takes_a_callable_as_given(hook: Any) -> None:
    config = parse({"configure": hook})
    assert config.configure is hook
    assert config.configure_hook("default") is hook


def test_configure_takes_a_dotted_path_and_imports_it_only_when_asked() -> None:
    config = parse({"configure": "multipool_no_such_module.hook"})  # not imported yet
    assert config.configure == "multipool_no_such_module.hook"
    assert parse({"configure": f"{HERE}.set_up"}).configure_hook("default") is set_up
    assert parse(True).configure is None and parse(True).configure_hook("default") is None
    assert parse({"configure": None}).configure is None


def test_configure_accepts_str_subclasses_as_plain_strings() -> None:
    class Path(str):
        pass

    config = parse({"configure": Path(f"{HERE}.set_up")})
    assert type(config.configure) is str


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("multipool_no_such_module.hook", ["no module 'multipool_no_such_module'"]),
        ("multipool_no_such_module.sub.hook", ["no module 'multipool_no_such_module'"]),
        (f"{HERE}.no_such_hook", ["has no attribute 'no_such_hook'"]),
        (f"{HERE}.NOT_CALLABLE", ["42 (int), not a callable"]),
        (f"{HERE}.set_up_async", ["an async function", "plain function"]),
        (f"{HERE}.Hooks.method", [f"no module '{HERE}.Hooks'"]),  # a module, then its callable
    ],
)
def test_a_dotted_path_that_does_not_name_a_hook_is_refused_when_imported(
    path: str, expected: list[str]
) -> None:
    config = parse({"configure": path})
    with pytest.raises(PoolConfigError) as caught:
        config.configure_hook("replica")
    message = str(caught.value)
    assert "DATABASES['replica']['OPTIONS']['pool']['configure']" in message
    assert repr(path) in message
    assert "'myproject.db.configure_connection'" in message or "plain function" in message
    for fragment in expected:
        assert fragment in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("raise RuntimeError('settings are not ready')", "RuntimeError: settings are not ready"),
        ("import multipool_missing_dependency", "No module named 'multipool_missing_dependency'"),
        ("def hook(connection):\n    pass\n1/0", "ZeroDivisionError"),
        ("def hook(:", "SyntaxError"),
    ],
    ids=["raises", "imports-a-missing-module", "fails-after-defining", "syntax-error"],
)
def test_a_module_that_fails_to_import_is_named_with_its_error(
    source: str, expected: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"multipool_hook_module_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = parse({"configure": f"{name}.hook"})
    with pytest.raises(PoolConfigError) as caught:
        config.configure_hook("default")
    message = str(caught.value)
    assert f"importing module {name!r} failed" in message
    assert expected in message
    assert isinstance(caught.value.__cause__, Exception)


def test_an_async_or_generator_hook_is_refused() -> None:
    def generator(connection: Any) -> Any:
        yield connection

    for hook, kind in ((set_up_async, "an async function"), (generator, "a generator function")):
        with pytest.raises(PoolConfigError, match=kind):
            parse({"configure": hook})


def test_configure_is_part_of_the_config_and_compares_sanely() -> None:
    # OPTIONS (configure included) is part of the pool's key, compared with ==
    # against the snapshot the registry took: the same function, or the same
    # path, must compare equal, also after the deep copy connection.copy() makes.
    from django_multipool.backends.registry import _snapshot

    for hook in (set_up, f"{HERE}.set_up", lambda connection: None, print):
        options = {"pool": {"configure": hook, "max_size": 2}}
        assert _snapshot(options) == options
        assert copy.deepcopy(options) == options
        assert parse(options["pool"]) == parse(copy.deepcopy(options["pool"]))
    assert parse({"configure": set_up}) != parse({"configure": f"{HERE}.set_up"})
    # What the docs warn about: a deep copy duplicates these, which then differ.
    for duplicated in (functools.partial(set_up), Hooks(), Hooks().method):
        options = {"pool": {"configure": duplicated}}
        assert _snapshot(options) == options  # the registry's own snapshot keeps it
        assert copy.deepcopy(options) != options


# -- composed with the backend's setup (django_multipool._configure) -------------------


def test_without_configure_the_backends_setup_is_used_unchanged() -> None:
    from django_multipool._configure import compose_setup

    def backend(connection: Any) -> None:
        pass

    assert compose_setup(backend, parse(True), alias="default", pool_name="p") is backend
    assert compose_setup(None, parse(True), alias="default", pool_name="p") is None


def test_the_hook_runs_after_the_backends_setup() -> None:
    from django_multipool._configure import ConfiguredSetup, compose_setup

    calls: list[tuple[str, Any]] = []
    connection = object()
    setup = compose_setup(
        lambda conn: calls.append(("backend", conn)),
        parse({"configure": lambda conn: calls.append(("hook", conn))}),
        alias="default",
        pool_name="p",
    )
    assert isinstance(setup, ConfiguredSetup)
    setup(connection)
    assert calls == [("backend", connection), ("hook", connection)]
    only_hook = compose_setup(
        None, parse({"configure": f"{HERE}.set_up"}), alias="default", pool_name="p"
    )
    assert isinstance(only_hook, ConfiguredSetup) and only_hook.hook is set_up
    only_hook(connection)  # no backend setup: the hook alone


def test_a_failing_hook_is_logged_with_its_traceback_and_raised_unchanged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_multipool._configure import compose_setup

    class HookFailed(Exception):
        pass

    def failing_hook(connection: Any) -> None:
        raise HookFailed("no search_path for you")

    setup = compose_setup(
        None, parse({"configure": failing_hook}), alias="default", pool_name="reporting"
    )
    assert setup is not None
    with (
        caplog.at_level("WARNING", logger="django_multipool"),
        pytest.raises(HookFailed) as caught,
    ):
        setup(object())
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "pool 'reporting'" in record.getMessage()
    assert "failing_hook" in record.getMessage()
    assert "closed, not handed out" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is caught.value
    assert any("OPTIONS['pool']['configure']" in note for note in caught.value.__notes__)


def test_a_failing_backend_setup_is_not_blamed_on_the_hook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_multipool._configure import compose_setup

    def backend(connection: Any) -> None:
        raise ValueError("time zone")

    setup = compose_setup(backend, parse({"configure": set_up}), alias="d", pool_name="p")
    assert setup is not None
    with pytest.raises(ValueError, match="time zone") as caught:
        setup(object())
    assert not caplog.records
    assert not getattr(caught.value, "__notes__", None)
