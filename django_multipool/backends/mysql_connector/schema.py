"""Schema editor: Django's own MySQL schema editor, quoting with mysql-connector.

mysql-connector's editor subclasses Django's but returns values unquoted from
``quote_value()`` (so ``COMMENT 'x'`` became ``COMMENT x``: Django's
schema.tests db_comment tests) and writes defaults unquoted from
``prepare_default()`` (``DEFAULT yellow``: migrations.test_operations'
database-default tests). Only ``quote_value()`` differs from Django's here:
it needs mysqlclient's ``escape()``, and this is the connector's equivalent.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.mysql.schema import DatabaseSchemaEditor as DjangoSchemaEditor

__all__ = ["DatabaseSchemaEditor"]


class DatabaseSchemaEditor(DjangoSchemaEditor):
    def quote_value(self, value: Any) -> Any:
        self.connection.ensure_connection()
        connection = self.connection.connection
        converter = connection.converter
        quoted = converter.quote(converter.escape(converter.to_mysql(value), connection.sql_mode))
        if isinstance(quoted, bytes | bytearray):
            if isinstance(value, bytes):
                return bytes(quoted)  # as mysqlclient: bytes in, bytes out
            return bytes(quoted).decode()
        return str(quoted)
