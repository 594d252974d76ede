import json
import os

_database = json.loads(os.environ["STORM_DATABASE"])
# bench/storm/db.py's PARKING_OFF: the pool is built with parking turned off.
_parking_off = _database.pop("STORM_PARKING_OFF", False)
# bench/storm/db.py's CEILING: the views send no query (storm_site/views.py).
STORM_CEILING = _database.pop("STORM_CEILING", False)

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
# django_multipool's app only where its backend serves the site, so the other
# configurations run exactly as their users would run them.
INSTALLED_APPS = ["storm_site"]
try:
    import rest_framework  # noqa: F401
except ImportError:
    pass
else:
    # View (d), as a DRF site has it: DRF's default authentication needs
    # django.contrib.auth (its anonymous user; no query, no session here).
    INSTALLED_APPS += ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
if _database["ENGINE"].startswith("django_multipool."):
    INSTALLED_APPS.insert(0, "django_multipool")
if _parking_off:
    from django_multipool import signals

    def _no_parking(sender: object, pool: object, **kwargs: object) -> None:
        pool.parks = False  # type: ignore[attr-defined]

    signals.pool_opened.connect(_no_parking, weak=False)
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "storm_site.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": _database}
# Server errors (pool timeouts, "too many connections") reach uvicorn's log,
# which the bench summarises per configuration.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
