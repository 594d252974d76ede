"""The cursor wrapper: mysql-connector's cursor, with mysqlclient's semantics.

Django's MySQL SQL is written for mysqlclient, which interpolates parameters
on the client with Python's ``%`` operator whenever parameters are given
(even ``()``): ``%%`` then means a literal ``%``. mysql-connector's own
substitution only replaces ``%s`` and leaves ``%%`` as two characters, so
Django's ``LIKE CONCAT('%%', ...)`` patterns, ``extra()`` literals and
``cursor.execute("SELECT '%%', %s", [...])`` sent ``%%`` to the server
(found by Django's backends.tests.EscapingChecks and
queries.tests.Queries5Tests.test_extra_select_literal_percent_s). Here the
connector escapes and quotes each parameter, as it would, and the statement
is built with ``%`` as mysqlclient builds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mysql.connector
from django.db import IntegrityError
from mysql.connector.django import base

__all__ = ["CursorWrapper"]


class CursorWrapper(base.CursorWrapper):
    # The connector reports some of these as DataError (1690), not as the
    # OperationalError mysqlclient raises (Django's model_fields.
    # test_integerfield negative value tests): mapped by code, whatever the class.
    codes_for_integrityerror = base.CursorWrapper.codes_for_integrityerror

    def execute(self, query: Any, args: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        cursor: Any = self.cursor
        if args is not None and cursor._connection is not None:
            query, args = self._interpolate(query, args), None
        # (A closed cursor has no connection: the connector raises its error.)
        try:
            return cursor.execute(query, args)
        except mysql.connector.Error as exc:
            raise _as_mysqlclient_would(exc) from exc

    def close(self) -> Any:
        # The connector's wrapper reaches close() through __getattr__, which
        # a subclass's super().close() (backends.cursors) cannot see.
        return self.cursor.close()

    def executemany(self, query: Any, args: Sequence[Any]) -> Any:
        try:
            return self.cursor.executemany(query, args)
        except mysql.connector.Error as exc:
            raise _as_mysqlclient_would(exc) from exc

    def _interpolate(self, query: Any, args: Sequence[Any] | Mapping[str, Any]) -> bytes:
        cursor: Any = self.cursor
        if isinstance(query, str):
            query = query.encode(cursor._connection.python_charset)
        # The connector's own conversion (to_mysql, escape, quote), through
        # the C extension's connection or the pure-Python cursor.
        prepare = getattr(cursor._connection, "prepare_for_mysql", None)
        if isinstance(args, Mapping):
            adapted = self._adapt_execute_args_dict(dict(args))
            named = prepare(adapted) if prepare else cursor._process_params_dict(adapted)
            return bytes(query % {key: _as_bytes(v) for key, v in named.items()})
        positional = self._adapt_execute_args(tuple(args)) or ()
        values = prepare(positional) if prepare else cursor._process_params(positional)
        return bytes(query % tuple(_as_bytes(v) for v in values))


#: Server errors mysqlclient raises as OperationalError and the connector,
#: classifying by SQLSTATE 40001, as InternalError: code that retries on
#: OperationalError (and Django's transactions.tests.AtomicMySQLTests) must
#: see a deadlock as one.
_OPERATIONAL_ERRNOS = frozenset({1205, 1213})  # lock wait timeout, deadlock


def _as_mysqlclient_would(exc: mysql.connector.Error) -> Exception:
    if exc.errno in CursorWrapper.codes_for_integrityerror:
        return IntegrityError(*exc.args)
    if exc.errno in _OPERATIONAL_ERRNOS and not isinstance(exc, mysql.connector.OperationalError):
        return mysql.connector.OperationalError(
            msg=exc.msg, errno=exc.errno, sqlstate=exc.sqlstate
        )
    return exc


def _as_bytes(value: Any) -> bytes:
    # Quoted values come back as bytes or bytearray; Decimals unconverted.
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value).encode()
