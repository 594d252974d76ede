"""Guarantee 9: no password in a log record, an exception, a repr, stats or pool_status.

The tests connect as a server login of their own whose password is a string
nothing else contains, and collect every text the library can produce while
things go right and wrong: every log record of every logger at DEBUG (the
message, its arguments, the formatted traceback and stack), the whole chain
of every exception provoked (bad database, closed port, wrong password, an
exhausted pool, settings errors with the password in ``driver_options``),
the repr and str of wrappers, pools, configs, stats and driver connections,
and the output of ``manage.py pool_status`` and ``check`` in a process of their own. Then they
look for the password in all of it.

A control test plants the password in a log record and an exception and
checks that the same capture finds it: a capture that saw nothing would pass
every other test here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_multipool import PoolConfig, PoolTimeout
from django_multipool.backends.registry import registry

from ..probes import Probe
from ..servers import Server

pytestmark = pytest.mark.vendor

REPO = Path(__file__).resolve().parent.parent.parent
USER = "multipool_secret"
#: Recognisable, and plain letters and digits so that no quoting can change it.
PASSWORD = "Mpx7Secret4Leak9Zq"
#: A second login whose password is *not* PASSWORD: logging in as it with
#: PASSWORD fails on servers that check passwords.
OTHER_USER = "multipool_secret2"


class Evidence(logging.Handler):
    """Every text produced while it is installed, labelled by where it came from."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[tuple[str, str]] = []
        self.records = 0
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        where = f"log {record.name} {record.levelname}"
        self.add(where, record.getMessage())
        self.add(where + " args", repr(record.args))
        if record.exc_info:
            self.add(where + " exc_info", self._formatter.formatException(record.exc_info))
        if record.stack_info:
            self.add(where + " stack", record.stack_info)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def obj(self, where: str, value: Any) -> None:
        self.add(where + " repr", repr(value))
        self.add(where + " str", str(value))

    def exception(self, where: str, exc: BaseException) -> None:
        # The whole chain as a traceback prints it, and each link's args.
        self.add(where + " traceback", "".join(traceback.format_exception(exc)))
        seen: set[int] = set()
        link: BaseException | None = exc
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            self.obj(f"{where} {type(link).__name__}", link)
            self.add(f"{where} {type(link).__name__} args", repr(link.args))
            link = link.__cause__ or link.__context__

    def leaks(self) -> list[tuple[str, str]]:
        return [(w, t) for w, t in self.texts if PASSWORD.lower() in t.lower()]

    def joined(self) -> str:
        return "\n".join(text for _, text in self.texts)


@contextlib.contextmanager
def every_log_record() -> Iterator[Evidence]:
    """Capture every record of every logger at DEBUG, whatever its configuration."""
    evidence = Evidence()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate or logger is logging.getLogger():
            logger.addHandler(evidence)
    try:
        yield evidence
    finally:
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(evidence)
        # Loggers created meanwhile (a driver module imported late) inherit
        # the root's level again.


@pytest.fixture
def login(vendor: str, probe: Probe) -> str:
    probe.create_login(USER, PASSWORD)
    probe.create_login(OTHER_USER, "Other7Password1")
    return USER


@pytest.fixture
def evidence(login: str) -> Iterator[Evidence]:
    with every_log_record() as captured:
        yield captured
    leaks = captured.leaks()
    assert leaks == [], "the password leaked:\n" + "\n".join(f"{w}: {t}" for w, t in leaks)


def free_port() -> int:
    # Bound then closed: nothing listens there when the pool tries it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secret_settings(vendor: str, **extra: Any) -> dict[str, Any]:
    """DATABASES entries that log in as the secret login (Oracle: into its own schema)."""
    return {"USER": USER, "PASSWORD": PASSWORD, **extra}


def provoke(evidence: Evidence, where: str, action: Any) -> BaseException:
    """Run ``action``, which must raise; record the exception and return it."""
    try:
        action()
    except Exception as exc:
        evidence.exception(where, exc)
        return exc
    raise AssertionError(f"{where}: nothing was raised")


def test_a_working_pool_shows_no_password(
    vendor: str, make_wrapper: Any, probe: Probe, evidence: Evidence
) -> None:
    wrapper = make_wrapper(
        min_size=1, max_size=2, leak_timeout=0.2, settings=secret_settings(vendor)
    )
    wrapper.force_debug_cursor = True  # Django logs every query too
    with wrapper.cursor() as cursor:
        cursor.execute(probe.backend_id_sql)
        cursor.fetchone()
    conn = wrapper.connection
    # The password reached the driver (PostgreSQL trusts loopback, so a
    # successful login alone would not show it).
    if vendor == "postgresql":
        assert conn.info.password == PASSWORD
    pool = wrapper.pool
    time.sleep(0.5)  # past leak_timeout: a warning with the checkout's stack
    for where, value in [
        ("wrapper", wrapper),
        ("pool", pool),
        ("config", pool.config),
        ("stats", pool.stats()),
        ("stats dict", pool.stats().as_dict()),
        ("driver connection", conn),
        ("registry", list(registry.items())),
        ("label", wrapper.pool_label()),
    ]:
        evidence.obj(where, value)
    wrapper.close()
    # A settings change retires the pool, and says so in the log.
    wrapper.settings_dict["OPTIONS"]["pool"]["max_size"] = 3
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    wrapper.close()
    # What the capture saw includes the records that name the pool's server.
    text = evidence.joined()
    assert "leak_timeout is 0.2 s" in text and "It was checked out at" in text
    assert "settings changed" in text and f"{USER}@" in text
    assert evidence.records >= 5


def test_connection_failures_show_no_password(
    vendor: str, make_wrapper: Any, probe: Probe, evidence: Evidence
) -> None:
    failing = {
        "no such database": secret_settings(vendor, NAME="multipool_no_such_db"),
        "closed port": secret_settings(vendor, HOST="127.0.0.1", PORT=free_port()),
    }
    if vendor != "postgresql":  # PostgreSQL trusts loopback: any password logs in
        failing["wrong password"] = secret_settings(vendor, USER=OTHER_USER)
    if vendor == "oracle":
        failing.pop("no such database")  # NAME is the service there; a bad one is a port away
    for where, settings in failing.items():
        wrapper = make_wrapper(min_size=0, max_size=1, timeout=1, settings=settings)
        exc = provoke(evidence, where, wrapper.ensure_connection)
        assert isinstance(exc, PoolTimeout), (where, exc)
        # The driver's own words are in the message, which is why it is checked.
        assert "connection attempts failed" in str(exc) or "Connecting fails" in str(exc)
        evidence.obj(where + " stats", wrapper.pool.stats())
    # An exhausted pool, for its message too.
    wrapper = make_wrapper(min_size=0, max_size=1, timeout=0.2, settings=secret_settings(vendor))
    held = wrapper.pool.acquire()
    provoke(evidence, "exhausted", wrapper.pool.acquire)
    wrapper.pool.release(held)
    assert evidence.records >= 3  # psycopg_pool and our pool log failed connects


def test_settings_errors_show_no_password(
    vendor: str, make_wrapper: Any, evidence: Evidence
) -> None:
    bad_pools: dict[str, dict[str, Any]] = {
        "reserved driver option": {"driver_options": {"password": PASSWORD, "min_size": 2}},
        "unknown key": {"max_sise": 2, "driver_options": {"password": PASSWORD}},
        "bad value": {"timeout": -1, "driver_options": {"password": PASSWORD}},
        "driver_options not a dict": {"driver_options": [("password", PASSWORD)]},
        "min above max": {"min_size": 3, "max_size": 1, "driver_options": {"passwd": PASSWORD}},
    }
    if vendor == "mysql":
        # driver_options are connect() arguments there, checked by name.
        bad_pools["unknown connect argument"] = {
            "driver_options": {"password": PASSWORD, "no_such_argument": 1}
        }
    for where, pool in bad_pools.items():
        wrapper = make_wrapper(pool=pool, settings=secret_settings(vendor))
        provoke(evidence, where, lambda w=wrapper: w.pool)
        provoke(evidence, where + " (cursor)", lambda w=wrapper: w.cursor())
    # A valid config holding the password: its repr must not show it.
    config = PoolConfig.from_options({"driver_options": {"password": PASSWORD}}, alias="x")
    evidence.obj("config with a password in driver_options", config)
    if vendor == "mysql":
        # And a pool built from it, whose driver really logs in with it.
        wrapper = make_wrapper(
            pool={"max_size": 1, "driver_options": {"password": PASSWORD}},
            settings={"USER": USER, "PASSWORD": ""},
        )
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER()")
            assert cursor.fetchone()[0].startswith(USER + "@")
        evidence.obj("pool with driver_options password", wrapper.pool)
        evidence.obj("its config", wrapper.pool.config)
        wrapper.close()


def run_command(
    vendor: str, server: Server, tmp_path: Path, *argv: str
) -> subprocess.CompletedProcess[str]:
    """``python -m django <argv>`` in a process of its own, on aliases that log in as the login."""
    databases = {
        "default": server.settings(**secret_settings(vendor), OPTIONS={"pool": {"max_size": 2}}),
        "gone": server.settings(
            **secret_settings(vendor, NAME="multipool_no_such_db"),
            OPTIONS={"pool": {"timeout": 1}},
        ),
        "closed": server.settings(
            **secret_settings(vendor, HOST="127.0.0.1", PORT=free_port()),
            OPTIONS={"pool": {"timeout": 1}},
        ),
        "bad_config": server.settings(
            **secret_settings(vendor),
            OPTIONS={"pool": {"driver_options": {"password": PASSWORD, "min_size": 1}}},
        ),
    }
    (tmp_path / "secret_settings.py").write_text(
        "import json, os\n"
        "SECRET_KEY = 'x'\n"
        "USE_TZ = True\n"
        "INSTALLED_APPS = ['django_multipool']\n"
        "DATABASES = json.loads(os.environ['SECRET_DATABASES'])\n"
        "LOGGING = {'version': 1, 'disable_existing_loggers': False,\n"
        "           'handlers': {'err': {'class': 'logging.StreamHandler'}},\n"
        "           'root': {'handlers': ['err'], 'level': 'DEBUG'}}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "DJANGO_SETTINGS_MODULE": "secret_settings",
        "SECRET_DATABASES": json.dumps(databases),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv",
    [("pool_status",), ("pool_status", "--json"), ("check", "--database", "default")],
    ids=["pool_status", "pool_status-json", "check"],
)
def test_management_commands_show_no_password(
    vendor: str, server: Server, tmp_path: Path, evidence: Evidence, argv: tuple[str, ...]
) -> None:
    result = run_command(vendor, server, tmp_path, *argv)
    evidence.add(f"{argv} stdout", result.stdout)
    evidence.add(f"{argv} stderr", result.stderr)
    # It ran and reported the failures (bad_config fails the system checks too).
    assert result.returncode == 1, result.stdout + result.stderr
    if argv[0] == "pool_status":
        for alias in ("default", "gone", "closed", "bad_config"):
            assert alias in result.stdout
        # It reached the server as the login (its log records went to stderr).
        assert f"{USER}@" in result.stderr
    else:
        assert "bad_config" in result.stderr and "min_size" in result.stderr


def test_the_capture_sees_a_planted_password(vendor: str, login: str) -> None:
    # The control: the same capture must find the password when it is there.
    with every_log_record() as captured:
        logging.getLogger("psycopg.some.module").debug("connect with %s", PASSWORD)
        logging.getLogger("django_multipool").info("no secret here")
        try:
            try:
                raise ValueError(f"password={PASSWORD}")
            except ValueError as inner:
                raise RuntimeError("connecting failed") from inner
        except RuntimeError as exc:
            captured.exception("planted", exc)
    leaks = {where.split()[0] + " " + where.split()[1] for where, _ in captured.leaks()}
    assert "log psycopg.some.module" in leaks
    assert "planted traceback" in leaks and "planted ValueError" in leaks
    assert captured.records == 2
