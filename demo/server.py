"""Run the demo site in a child process on a free loopback port: uvicorn, or gunicorn --preload."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

#: The directory holding the ``demo`` package: the child's working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
#: The last line of a traceback: "psycopg.OperationalError: ...", say.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exhausted)\b.*$")
_CLIP = 110


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def child_env(settings_module: str | None = "demo.settings", **extra: str) -> dict[str, str]:
    """This environment plus ``extra``, with the project importable.

    ``settings_module=None`` leaves DJANGO_SETTINGS_MODULE out, for an app that
    configures Django itself.
    """
    env = dict(os.environ, **extra)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def migrate(**extra: str) -> None:
    """``manage.py migrate`` of the demo site, with ``extra`` in its environment."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "--verbosity", "0"],
        cwd=PROJECT_ROOT,
        env=child_env(**extra),
        check=True,
    )


def _tidy(line: str) -> str:
    """``psycopg.OperationalError: connection failed: ... FATAL:  too many ...``, shortened."""
    name, _, message = line.strip().partition(":")
    if "FATAL:" in message:
        message = "FATAL: " + message.rpartition("FATAL:")[2]
    return f"{name}: {' '.join(message.split())}"


class UvicornServer:
    """``uvicorn demo.asgi:application --workers 1`` with its stderr kept in a file.

    Other sites pass their own ``app`` (``module:attribute``; with
    ``factory=True`` a callable returning the app), ``env`` (default
    :func:`child_env`), ``ready_path``, a GET that answers 2xx once serving,
    and ``server_args``, more uvicorn options.
    """

    name = "uvicorn"
    #: How stop() asks the server to exit.
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        app: str = "demo.asgi:application",
        *,
        factory: bool = False,
        env: dict[str, str] | None = None,
        ready_path: str = "/stats/",
        server_args: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.server_args = server_args
        self.factory = factory
        self.env = env if env is not None else child_env()
        self.ready_path = ready_path
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        # Closed (and deleted) in __exit__, after the report had a chance to show it.
        self.log = tempfile.NamedTemporaryFile(prefix="multipool-demo-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            *(["--factory"] if self.factory else []),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            *self.server_args,
        ]

    def start(self, ready_within: float = 30.0) -> None:
        self.process = subprocess.Popen(
            self.command(),
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() can reach the workers it forks.
            start_new_session=True,
        )
        ready_url = f"{self.url}{self.ready_path}"
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(ready_url, timeout=1, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer within {ready_within} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server and every process it forked (its session: see ``start``).

        A worker stuck on a socket it shares with its siblings may ignore its
        master's SIGTERM and outlive it; the whole group gets SIGKILL then.
        """
        if self.process is None:
            return
        group = self.process.pid
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def exceptions(self) -> Counter[str]:
        """The server's logged exceptions, by their last line (clipped), one per traceback."""
        found: Counter[str] = Counter()
        last: str | None = None
        for line in [*self.log_text().splitlines(), "Traceback (end)"]:
            if line.startswith(("Traceback", "Internal Server Error", "Exception in ASGI")):
                if last:
                    found[last[:_CLIP]] += 1
                last = None
            elif _EXCEPTION_LINE.match(line):
                last = _tidy(line)
        return found

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> UvicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()


class GunicornServer(UvicornServer):
    """``gunicorn --preload --workers N`` (sync workers) on a free loopback port.

    With ``--preload`` the app is imported once in the master, before the
    workers are forked: see ``demo/wsgi.py``.
    """

    name = "gunicorn"
    # Quick shutdown: SIGTERM would wait for the workers to finish gracefully.
    stop_signal = signal.SIGQUIT

    def __init__(self, app: str = "demo.wsgi:application", *, workers: int = 3, **kwargs: Any):
        super().__init__(app, **kwargs)
        self.workers = workers

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--preload",
            "--workers",
            str(self.workers),
            "--bind",
            f"{HOST}:{self.port}",
            "--log-level",
            "warning",
            # A worker stuck on a shared socket is killed and replaced after this.
            "--timeout",
            "10",
            "--graceful-timeout",
            "1",
            *self.server_args,
        ]
