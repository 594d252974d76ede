"""Settings of the ecosystem site, configured per tool as each tool's docs say.

``MULTIPOOL_ECOSYSTEM`` is JSON: ``{"database": <DATABASES entry>, "tools":
[...]}``, the entry with our ENGINE and its ``OPTIONS["pool"]``. Tools:
``debug_toolbar`` (SQL panel on), ``sentry`` (Django integration, spans kept
in memory), ``opentelemetry`` (instrumented by the scenario before Django
starts: it edits MIDDLEWARE itself) and ``silk`` (middleware and SQL
recording, its tables migrated).
"""

import json
import os

CONFIG = json.loads(os.environ["MULTIPOOL_ECOSYSTEM"])
TOOLS = set(CONFIG["tools"])

SECRET_KEY = "tests-only"
# The toolbar is a development tool: its docs set DEBUG and INTERNAL_IPS.
DEBUG = "debug_toolbar" in TOOLS
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
INTERNAL_IPS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.ecosystem.project.urls"
STATIC_URL = "/static/"
DATABASES = {"default": CONFIG["database"]}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "django_multipool",
    "tests.ecosystem.project",
]
MIDDLEWARE: list[str] = []
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

if "debug_toolbar" in TOOLS:
    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    DEBUG_TOOLBAR_CONFIG = {
        # The default callback also wants DEBUG and REMOTE_ADDR in INTERNAL_IPS
        # (both set above); this one shows the toolbar to the test client in
        # any case, and IS_RUNNING_TESTS=False keeps it on under a test runner.
        "SHOW_TOOLBAR_CALLBACK": "tests.ecosystem.project.views.show_toolbar",
        "IS_RUNNING_TESTS": False,
    }

if "silk" in TOOLS:
    INSTALLED_APPS.append("silk")
    MIDDLEWARE.append("silk.middleware.SilkyMiddleware")
    SILKY_PYTHON_PROFILER = False
    SILKY_ANALYZE_QUERIES = False

if "sentry" in TOOLS:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    from .instruments import MemoryTransport

    # Sentry's Django docs: init in settings.py. The DSN is never contacted:
    # the transport keeps every envelope in memory.
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        integrations=[DjangoIntegration()],
        traces_sample_rate=1.0,
        transport=MemoryTransport,
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
