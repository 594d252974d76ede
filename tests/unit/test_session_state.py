"""Which statements leave state in a session: the text test of backends.session_state."""

from __future__ import annotations

import pytest

from django_multipool.backends.session_state import detector_for


@pytest.mark.parametrize(
    ("vendor_name", "sql", "found"),
    [
        ("postgresql", "SELECT * FROM t WHERE locked", False),
        ("postgresql", "  set search_path TO x", True),
        ("postgresql", "SET LOCAL statement_timeout = 5", False),
        ("postgresql", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", False),
        ("postgresql", "SELECT pg_advisory_xact_lock(1)", False),
        ("postgresql", "SELECT pg_try_advisory_lock(1)", True),
        ("postgresql", "select set_config('a.b', 'c', false)", True),
        ("postgresql", "select set_config('a.b', 'c', true)", False),
        ("postgresql", "LISTEN channel", True),
        ("postgresql", "DECLARE c CURSOR WITH HOLD FOR SELECT 1", True),
        ("postgresql", "CREATE TEMP TABLE x (n int)", True),
        ("postgresql", "CREATE TABLE temp_x (n int)", False),
        ("mysql", "USE other", True),
        ("mysql", "SELECT @x := 1", True),
        ("mysql", "SELECT GET_LOCK('a', 1)", True),
        ("mysql", "SELECT `get_lock_col` FROM t", False),
        ("mysql", "LOCK TABLES t WRITE", True),
        ("mysql", "INSERT INTO t VALUES ('SET x')", False),
        ("oracle", "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY'", True),
        ("oracle", "BEGIN DBMS_SESSION.SET_IDENTIFIER('x'); END;", True),
        ("oracle", "SELECT 1 FROM DUAL", False),
    ],
)
def test_what_counts_as_session_state(vendor_name: str, sql: str, found: bool) -> None:
    detector = detector_for(vendor_name)
    assert detector is not None
    assert (detector(sql) is not None) is found
