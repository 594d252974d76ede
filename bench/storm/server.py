"""The storm site under ``uvicorn --workers 1`` on a free loopback port, one per configuration.

demo.server.UvicornServer starts, waits for and stops the server; this adds
the storm site's environment and a count of the server errors it logged.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from demo.server import PROJECT_ROOT, UvicornServer, child_env

HERE = Path(__file__).resolve().parent
#: "psycopg_pool.PoolTimeout: couldn't get a connection after 10.00 sec" and the like.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exhausted)): ?(.*)$")


#: uvicorn's event loop and HTTP parser, by ``--stack``. "standard" is what
#: ``pip install uvicorn[standard]`` (uvicorn's production install) runs:
#: uvloop and httptools, in C. "pure" is plain ``pip install uvicorn``:
#: asyncio's loop and h11, in Python, ~0.6 ms more CPU per request on this
#: bench's views, for every configuration alike.
STACKS = {
    "standard": ("--loop", "uvloop", "--http", "httptools"),
    "pure": ("--loop", "asyncio", "--http", "h11"),
}


def stack_missing(stack: str) -> str | None:
    """Why ``stack`` cannot run here, or None."""
    if stack == "standard":
        import importlib.util

        missing = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None]
        if missing:
            return (
                f"--stack standard needs {' and '.join(missing)}: install uvicorn[standard] "
                f"(the bench dependency group has it), or run with --stack pure"
            )
    return None


def drf_missing() -> str | None:
    """Why view (d) cannot be served here, or None."""
    import importlib.util

    if importlib.util.find_spec("rest_framework") is None:
        return "view (d) needs djangorestframework (the bench dependency group has it)"
    return None


class StormServer(UvicornServer):
    def __init__(self, database: dict[str, Any], stack: str = "standard") -> None:
        env = child_env("storm_site.settings", STORM_DATABASE=json.dumps(database))
        # storm_site lives beside this file; a PYTHONPATH given to the bench (say,
        # a snapshot of django_multipool) goes before the project.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(HERE), os.environ.get("PYTHONPATH"), str(PROJECT_ROOT)])
        )
        super().__init__(
            "storm_site.asgi:application",
            env=env,
            ready_path="/ready/",
            server_args=STACKS[stack],
        )
        self._mark = 0

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
