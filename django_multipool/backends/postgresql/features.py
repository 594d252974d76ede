"""Features: Django's PostgreSQL features, and the Django tests that cannot apply."""

from __future__ import annotations

import django
from django.db.backends.postgresql import features

from ..mixins import PooledDatabaseFeaturesMixin


class DatabaseFeatures(PooledDatabaseFeaturesMixin, features.DatabaseFeatures):
    def pooled_test_skips(self) -> dict[str, set[str]]:
        skips = super().pooled_test_skips()
        # backends.postgresql.tests.Tests tests Django's own psycopg_pool
        # integration; those that look past the shared schema cannot apply.
        skips["Inspects Django's psycopg_pool internals (pool._check)"] = {
            "backends.postgresql.tests.Tests.test_pooling_health_checks",
        }
        skips[
            "Expects psycopg_pool.PoolTimeout; ours raises django_multipool.PoolTimeout, "
            "a django.db.OperationalError on every vendor"
        ] = {"backends.postgresql.tests.Tests.test_connect_pool"}
        skips[
            "Expects Django's wording; ours refuses CONN_MAX_AGE > 0 with its own "
            "message (PoolConfigError, an ImproperlyConfigured)"
        ] = {"backends.postgresql.tests.Tests.test_pooling_not_support_persistent_connections"}
        if django.VERSION >= (6, 0):
            skips[
                "Passes a callable check to psycopg_pool; OPTIONS['pool']['check'] is "
                "True, False or seconds on every vendor, a callable is refused"
            ] = {"backends.postgresql.tests.Tests.test_pool_check_can_be_overridden"}
        if self.connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
            # Behind a transaction pooler it must be on (django_multipool.E005).
            skips["Tests server-side cursors, which DISABLE_SERVER_SIDE_CURSORS turns off"] = {
                f"backends.postgresql.test_server_side_cursors.ServerSideCursorsPostgres.{test}"
                for test in (
                    "test_server_side_binding",
                    "test_server_side_cursor",
                    "test_server_side_cursor_many_cursors",
                    "test_values",
                    "test_values_list",
                    "test_values_list_fields_not_equal_to_names",
                    "test_values_list_flat",
                )
            }
        return skips
