"""Features: Django's own MySQL features, with the tests a pool cannot pass declared."""

from __future__ import annotations

from django.db.backends.mysql import features

from ..mixins import PooledDatabaseFeaturesMixin


class DatabaseFeatures(PooledDatabaseFeaturesMixin, features.DatabaseFeatures):
    def pooled_test_skips(self) -> dict[str, set[str]]:
        skips = super().pooled_test_skips()
        skips[
            "Expects init_connection_state() to send SET SQL_AUTO_IS_NULL through Django's "
            "cursor; pooled, it runs once per physical connection in the pool's setup"
        ] = {"backends.mysql.tests.IsolationLevelTests.test_auto_is_null_auto_config"}
        return skips
