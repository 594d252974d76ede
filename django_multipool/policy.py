"""What every pool decides the same way, whatever its driver.

The adapters and the pool core ask here; none of them writes these rules
again:

- when a connection opened now retires (``max_lifetime``, less up to
  :data:`LIFETIME_JITTER` at random, so that connections opened together do
  not all retire together; psycopg_pool applies the same -5 % itself);
- how long a connection may sit idle before it is checked on its way out
  (``check=N``: infinite when checks are off, so that the test on the
  checkout path is one comparison);
- what a caller who waited in vain is told (:func:`timed_out`), from the
  counts each pool keeps its own way.

Who holds which connection, and what happens to a borrower that disappears
with one, is the :mod:`~django_multipool.ledger`'s.
"""

from __future__ import annotations

import math
import random

from .config import PoolConfig
from .errors import PoolTimeout

__all__ = ["LIFETIME_JITTER", "SETUP_LEFT_A_TRANSACTION", "check_after", "expires_at", "timed_out"]

#: The largest share of ``max_lifetime`` a connection's life is shortened by.
LIFETIME_JITTER = 0.05

#: What every adapter says when a new connection's setup left a transaction
#: open: lent like that, its borrower's statements would run in a transaction
#: nobody commits. The adapter closes the connection and raises its driver's
#: ProgrammingError with this fix.
SETUP_LEFT_A_TRANSACTION = "OPTIONS['pool']['configure'] must commit or roll back what it begins"


def expires_at(now: float, lifetime: float | None) -> float:
    """When a connection opened at ``now`` retires; infinity without ``max_lifetime``."""
    if lifetime is None:
        return math.inf
    return now + lifetime * random.uniform(1.0 - LIFETIME_JITTER, 1.0)


def check_after(config: PoolConfig) -> float:
    """Seconds idle after which a connection is checked before it is lent.

    0 checks every checkout; infinity (``check=False``) none. A connection is
    due when ``now - idle_since >= check_after(config)``.
    """
    interval = config.check_interval
    return math.inf if interval is None else interval


def timed_out(
    name: str,
    config: PoolConfig,
    waited: float,
    *,
    waiting: int,
    in_use: int,
    connect_errors: int,
    connect_error: str | None = None,
    connecting: int = 0,
) -> PoolTimeout:
    """The error for a caller who waited ``waited`` s in vain.

    ``in_use`` below ``max_size`` says the pool could not open connections
    (``connect_error``, stripped of secrets by the caller, says why), or is
    still opening ``connecting`` of them.
    """
    return PoolTimeout.after_wait(
        name,
        config.max_size,
        waited,
        max(waiting, 0),
        in_use=in_use,
        connect_errors=connect_errors,
        connect_error=connect_error,
        connecting=connecting,
    )
