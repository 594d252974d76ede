"""The storm site under ``uvicorn --workers 1`` on a free loopback port, one per configuration.

demo.server.UvicornServer serves the demo site only; this launcher reuses its
port picking and host and serves ``storm_site`` with a given DATABASES entry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from demo.server import HOST, PROJECT_ROOT, free_port

HERE = Path(__file__).resolve().parent
#: "psycopg_pool.PoolTimeout: couldn't get a connection after 10.00 sec" and the like.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exhausted)): ?(.*)$")


class StormServer:
    def __init__(self, database: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.database = database
        self.log = tempfile.NamedTemporaryFile(prefix="storm-uvicorn-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self._mark = 0

    def start(self, ready_within: float = 30.0) -> None:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="storm_site.settings",
            STORM_DATABASE=json.dumps(self.database),
        )
        env["PYTHONPATH"] = os.pathsep.join(
            # PYTHONPATH before the project, as in run.py.
            filter(None, [str(HERE), env.get("PYTHONPATH"), str(PROJECT_ROOT)])
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "storm_site.asgi:application",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=HERE,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited at start:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready/", timeout=1, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer within {ready_within} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def mark(self) -> None:
        """Count only what the server logs from now on (after the warm-up, say)."""
        self._mark = len(self.log_text())

    def server_errors(self) -> Counter[str]:
        """Server errors by the last exception line of each logged traceback (clipped).

        One record per "Internal Server Error" (django.request) or "Exception in
        ASGI application" (uvicorn); chained tracebacks count once.
        """
        found: Counter[str] = Counter()
        last: str | None = None
        for line in [*self.log_text()[self._mark :].splitlines(), "Internal Server Error: (end)"]:
            if line.startswith(("Internal Server Error", "Exception in ASGI application")):
                if last is not None:
                    found[last] += 1
                last = None
            elif match := _EXCEPTION_LINE.match(line.strip()):
                name, message = match.groups()
                # libpq's "connection to server at ... failed: FATAL: why": keep the why.
                message = message.rsplit("failed: ", 1)[-1]
                last = f"{name.rsplit('.', 1)[-1]}: {message[:90]}"
        return found

    def __enter__(self) -> StormServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()
