"""Django's test suite on django_multipool.backends.postgresql (see suite_settings.py)."""

from suite_settings import *  # noqa: F403
from suite_settings import databases

DATABASES = databases(
    "postgresql",
    our_engine="django_multipool.backends.postgresql",
    django_engine="django.db.backends.postgresql",  # with psycopg 3, as ours
    default_dsn="postgresql://postgres@127.0.0.1:5432/postgres",
)
