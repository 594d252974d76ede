"""Operations: mysql-connector's, minus its version-based regex choice."""

from __future__ import annotations

from django.db.backends.mysql.operations import DatabaseOperations as DjangoMySQLOperations
from mysql.connector.django import operations


class DatabaseOperations(operations.DatabaseOperations):
    def regex_lookup(self, lookup_type: str) -> str:
        # mysql-connector picks REGEXP_LIKE for any server >= 8.0, which
        # MariaDB (10.x and 11.x) does not have; it only worked on MariaDB
        # because the connector believed the server was 5.5.5. Django's own
        # choice looks at the vendor.
        lookup: str = DjangoMySQLOperations.regex_lookup(self, lookup_type)
        return lookup
