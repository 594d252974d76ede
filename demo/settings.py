"""Settings of the demo site: one PostgreSQL alias, configured as ``MULTIPOOL_DEMO_CONFIG`` says.

``demo.configs`` holds the four DATABASES entries the demo compares; ours is
what a user writes after switching ENGINE: Django's own keys, CONN_MAX_AGE 0
and one OPTIONS["pool"] dict.
"""

from __future__ import annotations

from demo.configs import CONFIGS, database_entry
from demo.env import DemoEnv

_env = DemoEnv.from_environ()

SECRET_KEY = "demo-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# django_multipool's app only where its ENGINE serves the site, so Django's
# own configurations run exactly as their users run them.
INSTALLED_APPS = ["django_multipool", "demo"] if CONFIGS[_env.config].ours else ["demo"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "demo.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {"default": database_entry(_env)}

# Server errors (a PoolTimeout, "too many connections") go to the server's
# stderr, which python -m demo summarises per configuration.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
