"""A test runner that touches every database before the test databases exist.

Anything may do that in a real project (a query in AppConfig.ready(), a
pytest fixture, custom runner code). Django 6.1's built-in pool then keeps
serving the *real* database for the whole test run; ours must not.
"""

import os

from django.db import connections
from django.test.runner import DiscoverRunner

SERVER_DATABASE_SQL = {
    "postgresql": "SELECT current_database()",
    "mysql": "SELECT DATABASE()",
    "oracle": "SELECT USER FROM dual",
}


def server_database(connection):
    with connection.cursor() as cursor:
        cursor.execute(SERVER_DATABASE_SQL[connection.vendor])
        return cursor.fetchone()[0]


class PoolOpenedFirstRunner(DiscoverRunner):
    def setup_databases(self, **kwargs):
        for alias in connections:
            # Opens the pool (when pooled) against the real database.
            name = server_database(connections[alias])
            os.environ[f"MULTIPOOL_REAL_DATABASE_{alias.upper()}"] = name
        return super().setup_databases(**kwargs)
