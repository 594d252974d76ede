"""Features: mysql-connector's, which are Django's MySQL features.

Nothing vendor-specific is overridden here: Django's MySQL features branch on
``connection.mysql_is_mariadb`` and ``connection.mysql_version``, which our
DatabaseWrapper reports truthfully (see base.py), so MariaDB gets Django's
MariaDB answers.
"""

from __future__ import annotations

from mysql.connector.django import features

from ..mixins import PooledDatabaseFeaturesMixin


class DatabaseFeatures(PooledDatabaseFeaturesMixin, features.DatabaseFeatures):
    pass
