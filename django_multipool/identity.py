"""What a pooled session tells the server about itself: pool, size, process, host.

Every pool opens its connections under one identity, computed once when the
pool is built (so a forked child's new pool names its own pid): the pool's
name, its ``max_size``, the process id and the host name. The server then
shows whose each session is (PostgreSQL ``pg_stat_activity.application_name``,
MySQL/MariaDB ``performance_schema.session_connect_attrs``, Oracle
``v$session.program``), and ``manage.py pool_status --server`` adds up the
``max_size`` of every pool it sees against the server's connection limit.

One text form serves every vendor, within the tightest rules of the three:
PostgreSQL keeps at most 63 bytes of ``application_name`` and turns
non-ASCII bytes into ``?``; python-oracledb refuses spaces, ``=``,
parentheses and a few more characters in ``program``::

    multipool:<pool>:max<max_size>:<pid>@<host>

If that is too long the host is shortened first, then the pool name; the
size and the pid, which the fleet view needs, are never cut. No Django, no
driver here: the backends put the text where their driver sends it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket

__all__ = ["MAX_LENGTH", "PREFIX", "PoolIdentity"]

#: The first word of every identity: how the fleet view tells our sessions apart.
PREFIX = "multipool"
#: PostgreSQL's NAMEDATALEN - 1, the most application_name keeps.
MAX_LENGTH = 63
# The least kept of a shortened pool name or host, so that it still reads.
_SHORTEST = 4

_PATTERN = re.compile(rf"^{PREFIX}:(?P<pool>[^:]+):max(?P<max>\d+):(?P<pid>\d+)@(?P<host>[^:]*)$")
# The separator, what PostgreSQL would mangle (non-ASCII, controls, spaces)
# and what python-oracledb refuses in a program name.
_UNSAFE = re.compile(r"[^!-~]|[:()=\[\]^`{|}~]")


@dataclasses.dataclass(frozen=True, slots=True)
class PoolIdentity:
    """Whose a session is: one pool of one process on one host."""

    pool: str
    max_size: int
    pid: int
    host: str

    @classmethod
    def of_this_process(cls, pool: str, max_size: int) -> PoolIdentity:
        return cls(_safe(pool), max_size, os.getpid(), _safe(socket.gethostname()))

    def text(self) -> str:
        """The identity in at most :data:`MAX_LENGTH` bytes."""
        pool, host = self.pool, self.host
        fixed = len(f"{PREFIX}::max{self.max_size}:{self.pid}@")
        excess = fixed + len(pool) + len(host) - MAX_LENGTH
        if excess > 0:
            cut = min(excess, max(0, len(host) - _SHORTEST))
            host, excess = host[: len(host) - cut], excess - cut
        if excess > 0:
            pool = pool[: max(_SHORTEST, len(pool) - excess)]
        return f"{PREFIX}:{pool}:max{self.max_size}:{self.pid}@{host}"[:MAX_LENGTH]

    @classmethod
    def parse(cls, text: str | None) -> PoolIdentity | None:
        """The identity a session announced, or None if it is not one of ours."""
        match = _PATTERN.match(text or "")
        if match is None:
            return None
        return cls(match["pool"], int(match["max"]), int(match["pid"]), match["host"])


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text) or "_"
