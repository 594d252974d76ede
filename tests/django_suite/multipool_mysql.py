"""Django's test suite on django_multipool.backends.mysql (see suite_settings.py)."""

from suite_settings import *  # noqa: F403
from suite_settings import databases

DATABASES = databases(
    "mysql",
    our_engine="django_multipool.backends.mysql",
    django_engine="django.db.backends.mysql",  # with mysqlclient
    default_dsn="mysql://root@127.0.0.1:3306/mysql",
    # What Django's own CI uses: a 4-byte UTF-8 test database.
    TEST={"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_general_ci"},
)
