"""Django's test suite on django_multipool.backends.oracle (see suite_settings.py).

Untested here (no Oracle server on this project's machines). With
``MULTIPOOL_ORACLE_DSN=oracle://system:secret@host:1521/FREEPDB1`` the two
aliases are test users on that service, as in Django's own Oracle CI.
"""

from suite_settings import *  # noqa: F403
from suite_settings import databases

DATABASES = databases(
    "oracle",
    our_engine="django_multipool.backends.oracle",
    django_engine="django.db.backends.oracle",
    default_dsn="oracle://system:oracle@127.0.0.1:1521/FREEPDB1",
)
