"""Settings of the demo site: one PostgreSQL alias served by django-multipool.

The database entry is what a user writes after switching ENGINE: Django's own
keys, CONN_MAX_AGE 0 (the pool replaces persistent connections, which leak
under ASGI) and one OPTIONS["pool"] dict.
"""

from __future__ import annotations

from demo.env import DemoEnv

_env = DemoEnv.from_environ()
_server = _env.connect_kwargs(_env.database)

SECRET_KEY = "demo-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["django_multipool", "demo"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "demo.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django_multipool.backends.postgresql",
        "NAME": _server["dbname"],
        "USER": _server["user"],
        "PASSWORD": _server["password"],
        "HOST": _server["host"],
        "PORT": _server["port"],
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            "pool": {
                "min_size": 2,
                "max_size": _env.max_size,
                # Long enough for 200 clients queueing on 10 connections.
                "timeout": 20,
            },
        },
    }
}

# Server errors (a PoolTimeout, say) go to uvicorn's stderr, which
# python -m demo shows when a run fails.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
