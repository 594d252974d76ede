"""WSGI entry point with a query at import: ``gunicorn --preload demo.wsgi:application``.

Sites do this to warm a cache or read settings from the database. With
``--preload`` gunicorn imports the app once in its master and then forks the
workers, so whatever the import opened (a connection, a pool with its idle
connections) is inherited by every worker: the case where the fork-safety
of a pool decides whether a response carries its own query's result.
"""

import os

import django
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django.setup()

from demo.models import Hit  # noqa: E402

Hit.objects.exists()

application = get_wsgi_application()
