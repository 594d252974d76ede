"""The Django internals :mod:`django_multipool.backends.mysql_connector` relies on.

Django's own and those of mysql-connector's Django backend
(``mysql.connector.django``), on which ours is built. Imported by the
backend before anything else of either (see ``backends/_privates.py``); the
connector's other internals are in ``adapters/_mysql_privates.py``.
"""

from __future__ import annotations

from ..._requires import Private, require

__all__ = ["CONNECTOR_PRIVATES", "DJANGO_PRIVATES"]

_CONNECTOR = "mysql.connector.django"

DJANGO_PRIVATES = (
    Private(
        "django.db.backends.mysql.features:DatabaseFeatures._mysql_storage_engine",
        "answers get_storage_engine() for a table not found",
    ),
    Private(
        "django.db.backends.mysql.operations:DatabaseOperations.regex_lookup",
        "picks the REGEXP the server has (the connector's is wrong on MariaDB)",
        ("self", "lookup_type"),
    ),
    Private(
        "django.db.backends.mysql.schema:DatabaseSchemaEditor.quote_value",
        "is the method the backend's schema editor replaces",
        ("self", "value"),
    ),
)

CONNECTOR_PRIVATES = (
    Private(
        f"{_CONNECTOR}.base:DatabaseWrapper._set_autocommit",
        "the backend overrides to skip a no-op round trip",
        ("self", "autocommit"),
    ),
    Private(
        f"{_CONNECTOR}.base:DatabaseWrapper._use_pure",
        "is what the connector's operations convert values for; pooled is always pure",
        instance=True,
    ),
    Private(
        f"{_CONNECTOR}.base:CursorWrapper._adapt_execute_args",
        "adapts positional parameters before the backend interpolates them",
        ("args",),
    ),
    Private(
        f"{_CONNECTOR}.base:CursorWrapper._adapt_execute_args_dict",
        "adapts named parameters before the backend interpolates them",
        ("args",),
    ),
    Private(
        f"{_CONNECTOR}.base:CursorWrapper.codes_for_integrityerror",
        "lists the errors the backend's cursor raises as IntegrityError",
    ),
    Private(
        f"{_CONNECTOR}.base:DjangoMySQLConverter",
        "is the converter the backend extends with _uuid_to_mysql",
    ),
    Private(
        f"{_CONNECTOR}.introspection:FieldInfo",
        "is the column description the backend extends with comment and data_type",
    ),
)

require("django_multipool.backends.mysql_connector", "django", DJANGO_PRIVATES)
require("django_multipool.backends.mysql_connector", "mysql-connector-python", CONNECTOR_PRIVATES)
