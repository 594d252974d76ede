"""A site with django-debug-toolbar and the PoolPanel, as a developer runs it.

``MULTIPOOL_TOOLBAR_DATABASES`` is the JSON of DATABASES, every alias on
our ENGINE (tests/test_debug_toolbar_panel.py writes it). The toolbar's
docs set DEBUG and INTERNAL_IPS; its callback is overridden only so that a
test process (IS_RUNNING_TESTS) shows it too.
"""

import json
import os

from debug_toolbar.settings import PANELS_DEFAULTS

SECRET_KEY = "tests-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INTERNAL_IPS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.toolbar_site.urls"
STATIC_URL = "/static/"
DATABASES = json.loads(os.environ["MULTIPOOL_TOOLBAR_DATABASES"])

# Not "django_multipool": the panel renders without it.
INSTALLED_APPS = ["django.contrib.staticfiles", "debug_toolbar"]
MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware"]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DEBUG_TOOLBAR_PANELS = [*PANELS_DEFAULTS, "django_multipool.contrib.debug_toolbar.PoolPanel"]
DEBUG_TOOLBAR_CONFIG = {"SHOW_TOOLBAR_CALLBACK": "tests.toolbar_site.views.show_toolbar"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
