"""The four ways the demo site connects, side by side: one ``DATABASES["default"]`` each.

Same database, same views, same load; only the entry differs, as it would
when a user switches from one to the next. The pools get the same size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from demo.env import DemoEnv


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    engine: str
    #: ``OPTIONS["pool"]``, given max_size and timeout; None for no pool.
    pool: dict[str, Any] | None
    #: The mechanism behind the figures, for the verdicts: under the ASGI
    #: load, and in workers forked after a query at import.
    why: str
    fork_why: str

    @property
    def ours(self) -> bool:
        return self.engine.startswith("django_multipool.")


CONFIGS = {
    config.key: config
    for config in [
        Config(
            "no-pool",
            "Django, no pool (CONN_MAX_AGE=0)",
            "django.db.backends.postgresql",
            None,
            "a new server session for every request",
            "each worker closes the connection it inherited and opens one per request",
        ),
        Config(
            "django-pool",
            'Django\'s pool (OPTIONS["pool"])',
            "django.db.backends.postgresql",
            {},
            "holds a connection for the whole request, through the async view's await",
            "the workers take connections from the pool the master opened: they share its "
            "sockets, so one worker reads another's reply",
        ),
        Config(
            "ours-request",
            'ours, release="request"',
            "django_multipool.backends.postgresql",
            {"release": "request"},
            "holds a connection for the whole request, as Django's pool does",
            "each worker leaves the pool it inherited alone and opens its own",
        ),
        Config(
            "ours-transaction",
            'ours, release="transaction"',
            "django_multipool.backends.postgresql",
            {"release": "transaction"},
            "gives the connection back after each statement, so not during the await",
            "each worker leaves the pool it inherited alone and opens its own",
        ),
    ]
}


def database_entry(env: DemoEnv) -> dict[str, Any]:
    """``DATABASES["default"]`` of configuration ``env.config``."""
    try:
        config = CONFIGS[env.config]
    except KeyError:
        raise ValueError(
            f"MULTIPOOL_DEMO_CONFIG={env.config!r}: expected one of {', '.join(CONFIGS)}"
        ) from None
    server = env.site_connect_kwargs()
    entry: dict[str, Any] = {
        "ENGINE": config.engine,
        "NAME": server["dbname"],
        "USER": server["user"],
        "PASSWORD": server["password"],
        "HOST": server["host"],
        "PORT": server["port"],
        # Pools replace persistent connections (which leak under ASGI), and
        # the no-pool row is Django's default.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {},
    }
    if config.pool is not None:
        entry["OPTIONS"]["pool"] = {
            "min_size": 2,
            "max_size": env.max_size,
            "timeout": env.pool_timeout,
            **config.pool,
        }
    return entry
