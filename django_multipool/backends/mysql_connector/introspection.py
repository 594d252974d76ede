"""Introspection: mysql-connector's, brought up to Django's own MySQL backend.

Django's own module cannot be imported without mysqlclient; the differences
that Django's test suite found are overridden here with Django's queries:

- ``get_table_list()`` returns the table comment (migrations' table comment
  tests read ``TableInfo.comment``);
- ``get_relations()`` leaves out foreign keys to other databases
  (backends.mysql.test_introspection.TestCrossDatabaseRelations) and, from
  Django 6.1, reports each key's ON DELETE rule;
- ``get_constraints()`` reports no foreign key to another database either;
- ``get_storage_engine()`` looks in the current database only
  (backends.mysql.test_introspection.StorageEngineTests: the same table name
  in the test database's clone made the answer depend on the order of rows);
- ``get_table_description()`` fills ``display_size`` from the column's
  length, as Django does (the connector's cursor description has None:
  migrations.test_operations' column length tests), and adds Django's
  ``comment`` and ``data_type`` (schema.tests' db_comment tests).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from django.db.backends.base import introspection as base_introspection
from mysql.connector.django import introspection

__all__ = ["DatabaseIntrospection", "TableInfo"]

# Django's (base fields name and type, plus the comment).
TableInfo = namedtuple("TableInfo", ["name", "type", "comment"])
FieldInfo = namedtuple(  # type: ignore[misc]
    "FieldInfo",
    [
        *introspection.FieldInfo._fields,
        *(
            name
            for name in ("comment", "data_type")
            if name not in introspection.FieldInfo._fields
        ),
    ],
)

# Django 6.1 added the ON DELETE rule to get_relations()' answer.
_RELATIONS_WITH_ON_DELETE = hasattr(
    base_introspection.BaseDatabaseIntrospection, "on_delete_types"
)


class DatabaseIntrospection(introspection.DatabaseIntrospection):
    def get_table_list(self, cursor: Any) -> list[Any]:
        cursor.execute(
            "SELECT table_name, table_type, table_comment FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"
        )
        return [
            TableInfo(row[0], {"BASE TABLE": "t", "VIEW": "v"}.get(row[1]), row[2])
            for row in cursor.fetchall()
        ]

    def get_relations(self, cursor: Any, table_name: str) -> dict[str, tuple[Any, ...]]:
        cursor.execute(
            """
            SELECT kcu.column_name, kcu.referenced_column_name, kcu.referenced_table_name,
                rc.delete_rule
            FROM information_schema.key_column_usage kcu
            JOIN information_schema.referential_constraints rc
                ON rc.constraint_name = kcu.constraint_name
                AND rc.constraint_schema = kcu.constraint_schema
            WHERE kcu.table_name = %s
                AND kcu.table_schema = DATABASE()
                AND kcu.referenced_table_schema = DATABASE()
                AND kcu.referenced_table_name IS NOT NULL
                AND kcu.referenced_column_name IS NOT NULL
            """,
            [table_name],
        )
        if _RELATIONS_WITH_ON_DELETE:
            return {
                field: (other_field, other_table, self.on_delete_types.get(on_delete))
                for field, other_field, other_table, on_delete in cursor.fetchall()
            }
        return {
            field: (other_field, other_table)
            for field, other_field, other_table, _ in cursor.fetchall()
        }

    def get_constraints(self, cursor: Any, table_name: str) -> Any:
        constraints: dict[str, Any] = super().get_constraints(cursor, table_name)
        cursor.execute(
            "SELECT constraint_name FROM information_schema.key_column_usage "
            "WHERE table_schema = DATABASE() AND table_name = %s "
            "AND referenced_table_schema IS NOT NULL AND referenced_table_schema != DATABASE()",
            [table_name],
        )
        for (name,) in cursor.fetchall():
            # Django leaves such keys out; the index InnoDB made for one stays.
            if name in constraints:
                constraints[name]["foreign_key"] = None
        return constraints

    def get_table_description(self, cursor: Any, table_name: str) -> list[Any]:
        described: list[Any] = super().get_table_description(cursor, table_name)
        cursor.execute(
            "SELECT column_name, column_comment, data_type FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            [table_name],
        )
        extra = {name: (comment or None, data_type) for name, comment, data_type in cursor}
        fields = []
        for info in described:
            comment, data_type = extra.get(info.name, (None, None))
            values = info._asdict()
            if values["display_size"] is None:
                values["display_size"] = values["internal_size"]
            values.setdefault("comment", comment)
            values.setdefault("data_type", data_type)
            fields.append(FieldInfo(**values))
        return fields

    def get_storage_engine(self, cursor: Any, table_name: str) -> str:
        cursor.execute(
            "SELECT engine FROM information_schema.tables "
            "WHERE table_name = %s AND table_schema = DATABASE()",
            [table_name],
        )
        result = cursor.fetchone()
        if not result:
            return str(getattr(self.connection.features, "_mysql_storage_engine"))  # noqa: B009
        return str(result[0])
