"""Run the demo site under uvicorn in a child process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

#: The directory holding the ``demo`` package: the child's working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


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


def migrate() -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "--verbosity", "0"],
        cwd=PROJECT_ROOT,
        env=child_env(),
        check=True,
    )


class UvicornServer:
    """``uvicorn demo.asgi:application --workers 1`` with its stderr kept in a file.

    Other sites pass their own ``app`` (``module:attribute``; with
    ``factory=True`` a callable returning the app), ``env`` (default
    :func:`child_env`), ``ready_path``, a GET that answers 2xx once serving,
    and ``server_args``, more uvicorn options.
    """

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

    def start(self, ready_within: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
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
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        ready_url = f"{self.url}{self.ready_path}"
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(ready_url, timeout=1, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer within {ready_within} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def __enter__(self) -> UvicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()
