"""Features: mysql-connector's, which are Django's MySQL features.

Nothing vendor-specific is overridden here: Django's MySQL features branch on
``connection.mysql_is_mariadb`` and ``connection.mysql_version``, which our
DatabaseWrapper reports truthfully (see base.py), so MariaDB gets Django's
MariaDB answers. What is declared is the Django tests that cannot apply.
"""

from __future__ import annotations

from django.utils.functional import cached_property
from mysql.connector.django import features

from ..mixins import PooledDatabaseFeaturesMixin


class DatabaseFeatures(PooledDatabaseFeaturesMixin, features.DatabaseFeatures):
    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:  # type: ignore[override]
        skips = super().django_test_skips
        skips.setdefault(
            "Asserts mysqlclient's own spelling of literals (1.754e0, b'0'); "
            "mysql-connector writes the same values as 1.754 and '0'",
            set(),
        ).add("backends.mysql.test_schema.SchemaEditorTests.test_quote_value")
        return skips

    def pooled_test_skips(self) -> dict[str, set[str]]:
        skips = super().pooled_test_skips()
        skips[
            "Expects init_connection_state() to send SET SQL_AUTO_IS_NULL through Django's "
            "cursor; pooled, it runs once per physical connection in the pool's setup"
        ] = {"backends.mysql.tests.IsolationLevelTests.test_auto_is_null_auto_config"}
        return skips
