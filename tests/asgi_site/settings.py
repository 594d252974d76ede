import json
import os

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django_multipool", "tests.asgi_site"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.asgi_site.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": json.loads(os.environ["MULTIPOOL_ASGI_DATABASE"])}
# Tracebacks of 500s reach the test's failure message through uvicorn's output.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
