"""Django's test suite on a django-multipool MySQL ENGINE (see suite_settings.py).

``MULTIPOOL_MYSQL_ENGINE`` picks it, as for the pytest suite: ``mysqlclient``
(django_multipool.backends.mysql, the default) or ``mysql-connector``
(django_multipool.backends.mysql_connector).
"""

import os

from suite_settings import *  # noqa: F403
from suite_settings import databases

_ENGINES = {
    "mysqlclient": "django_multipool.backends.mysql",
    "mysql-connector": "django_multipool.backends.mysql_connector",
}
_chosen = os.environ.get("MULTIPOOL_MYSQL_ENGINE", "mysqlclient")
if _chosen not in _ENGINES:
    raise ValueError(f"MULTIPOOL_MYSQL_ENGINE={_chosen!r}: expected one of {sorted(_ENGINES)}")

DATABASES = databases(
    "mysql",
    our_engine=_ENGINES[_chosen],
    django_engine="django.db.backends.mysql",  # with mysqlclient
    default_dsn="mysql://root@127.0.0.1:3306/mysql",
    # What Django's own CI uses: a 4-byte UTF-8 test database.
    TEST={"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_general_ci"},
)
