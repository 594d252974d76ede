"""MariaDB is MariaDB: Django takes its MariaDB code paths on our backend.

``mysql.connector.django`` reports every ``mysql_is_*`` as False and the
version as 5.5.5 (from MariaDB's handshake), so Django emitted MySQL SQL that
MariaDB rejects. Each query here runs on our backend and, side by side, on
Django's own MySQL backend (mysqlclient) against the same table; both must
send the same SQL and end the same way (result, or Django's own
NotSupportedError/ValueError; never a server syntax error). Absolute
assertions come first so the tests mean something without mysqlclient too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.apps.registry import Apps
from django.db import NotSupportedError, connections, models, transaction
from django.db.utils import ProgrammingError
from django.test.utils import CaptureQueriesContext

from ..servers import Server, required_vendors

pytestmark = [pytest.mark.vendor, pytest.mark.parametrize("vendor", ["mysql"], indirect=True)]

_apps = Apps(installed_apps=())


class Item(models.Model):
    name = models.CharField(max_length=40, unique=True)
    value = models.IntegerField(default=0)
    kind = models.CharField(max_length=10, default="a")
    token = models.UUIDField(default=uuid.uuid4)

    class Meta:
        apps = _apps
        app_label = "multipool_mariadb"
        db_table = "multipool_mariadb_item"


OURS = "mariadb_ours"
DJANGOS = "mariadb_djangos"


def _add_alias(alias: str, entry: dict[str, Any]) -> None:
    connections.settings[alias] = entry


def _drop_alias(alias: str) -> None:
    if hasattr(connections._connections, alias):
        connections[alias].close()
        del connections[alias]
    connections.settings.pop(alias, None)


@pytest.fixture
def ours(server: Server, probe: Any) -> Iterator[str]:
    from django_multipool.backends.registry import registry

    probe.execute_in_test_db("DROP TABLE IF EXISTS multipool_mariadb_item")
    _add_alias(OURS, server.settings(OPTIONS={"pool": {"min_size": 0, "max_size": 2}}))
    with connections[OURS].schema_editor() as editor:
        editor.create_model(Item)
    yield OURS
    with connections[OURS].schema_editor() as editor:
        editor.delete_model(Item)
    _drop_alias(OURS)
    registry.close(OURS)


@pytest.fixture
def djangos(server: Server, ours: str) -> Iterator[str]:
    """Django's own MySQL backend on the same server and table."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        why = "the side-by-side needs mysqlclient (apt: pkg-config libmariadb-dev)"
        if "mysql" in required_vendors():
            pytest.fail(f"MULTIPOOL_REQUIRE names mysql, but {why}")
        pytest.skip(why)
    _add_alias(DJANGOS, server.settings(ENGINE="django.db.backends.mysql"))
    yield DJANGOS
    _drop_alias(DJANGOS)


def outcome(alias: str, action: Callable[[str], Any]) -> tuple[Any, list[str]]:
    """What ``action`` returned or raised, and the SQL it sent."""
    Item.objects.using(alias).all().delete()
    Item.objects.using(alias).bulk_create(
        [
            Item(name="a", value=1, token=uuid.UUID(int=1)),
            Item(name="b", value=2, kind="b", token=uuid.UUID(int=2)),
        ]
    )
    with CaptureQueriesContext(connections[alias]) as queries:
        try:
            result: Any = action(alias)
        except Exception as exc:
            result = (type(exc).__name__, str(exc))
    return result, [q["sql"] for q in queries.captured_queries]


def same_on_both(ours: str, djangos: str, action: Callable[[str], Any]) -> Any:
    mine = outcome(ours, action)
    theirs = outcome(djangos, action)
    assert mine == theirs
    return mine


# -- the server is identified --------------------------------------------------------


def test_vendor_and_version_come_from_select_version(ours: str, probe: Any) -> None:
    connection = connections[OURS]
    version = probe.execute("SELECT VERSION()")[0][0]
    assert "MariaDB" in version
    assert connection.mysql_is_mariadb is True
    assert connection.mysql_server_info == version
    assert connection.mysql_version == tuple(int(x) for x in version.split("-")[0].split("."))
    assert connection.get_database_version() == connection.mysql_version
    assert connection.display_name == "MariaDB"
    # What Django 6.1 does with display_name, which crashes on the connector.
    connection.check_database_version_supported()


def test_same_answers_as_djangos_own_backend(ours: str, djangos: str) -> None:
    mine, theirs = connections[ours], connections[djangos]
    for attribute in (
        "mysql_is_mariadb",
        "mysql_version",
        "mysql_server_info",
        "display_name",
        "sql_mode",
    ):
        assert getattr(mine, attribute) == getattr(theirs, attribute), attribute
    for feature in (
        "has_select_for_update_of",
        "supported_explain_formats",
        "supports_any_value",
        "can_return_columns_from_insert",
        "has_native_uuid_field",
        "supports_expression_indexes",
        "minimum_database_version",
        "supports_default_in_lead_lag",
        "update_can_self_select",
        "allows_group_by_selected_pks",
        "can_introspect_json_field",
    ):
        missing = "not in this Django version"
        assert getattr(mine.features, feature, missing) == getattr(
            theirs.features, feature, missing
        ), feature
    assert mine.data_types["UUIDField"] == theirs.data_types["UUIDField"] == "uuid"


def test_the_connector_alone_misreads_mariadb(server: Server) -> None:
    """The control: what these tests guard against, on mysql.connector.django."""
    from mysql.connector.django.base import DatabaseWrapper

    entry = server.settings(ENGINE="mysql.connector.django", OPTIONS={"use_pure": True})
    wrapper = DatabaseWrapper(entry, "connector_control")
    try:
        wrapper.ensure_connection()
        assert wrapper.mysql_is_mariadb is False
        assert wrapper.mysql_version == (5, 5, 5)
        assert wrapper.features.has_select_for_update_of is True
        if django.VERSION >= (6, 1):
            with pytest.raises(TypeError):
                wrapper.display_name  # noqa: B018
    finally:
        wrapper.close()


# -- the four queries the connector got wrong ----------------------------------------


def _lock_rows_of_self(alias: str) -> Any:
    with transaction.atomic(using=alias):
        return list(Item.objects.using(alias).select_for_update(of=("self",)).values("name"))


def test_select_for_update_of_is_djangos_not_supported_error(ours: str) -> None:
    with pytest.raises(NotSupportedError, match="FOR UPDATE OF is not supported"):
        _lock_rows_of_self(ours)
    # Plain FOR UPDATE, which MariaDB has, still works.
    with transaction.atomic(using=ours):
        assert list(Item.objects.using(ours).select_for_update().values_list("name")) == []


def test_select_for_update_of_side_by_side(ours: str, djangos: str) -> None:
    result, sql = same_on_both(ours, djangos, _lock_rows_of_self)
    assert result[0] == "NotSupportedError"
    assert not [q for q in sql if "FOR UPDATE OF" in q]


def _upsert(alias: str) -> Any:
    made = Item.objects.using(alias).bulk_create(
        [
            Item(name="a", value=10, token=uuid.UUID(int=1)),
            Item(name="c", value=30, token=uuid.UUID(int=3)),
        ],
        update_conflicts=True,  # MySQL/MariaDB take no unique_fields: any unique key
        update_fields=["value"],
    )
    rows = list(Item.objects.using(alias).order_by("name").values_list("name", "value"))
    return rows, [item.pk is not None for item in made]


def test_bulk_create_update_conflicts_uses_value(ours: str) -> None:
    (rows, _), sql = outcome(ours, _upsert)
    assert rows == [("a", 10), ("b", 2), ("c", 30)]
    upsert = next(q for q in sql if "ON DUPLICATE KEY UPDATE" in q)
    assert "`value` = VALUE(`value`)" in upsert
    assert "AS new" not in upsert


def test_bulk_create_update_conflicts_side_by_side(ours: str, djangos: str) -> None:
    (rows, _), _ = same_on_both(ours, djangos, _upsert)
    assert rows == [("a", 10), ("b", 2), ("c", 30)]


def test_bulk_create_returns_primary_keys_via_returning(ours: str) -> None:
    # MariaDB has INSERT ... RETURNING; the connector never used it.
    def insert(alias: str) -> Any:
        return [
            item.pk
            for item in Item.objects.using(alias).bulk_create([Item(name="d"), Item(name="e")])
        ]

    pks, sql = outcome(ours, insert)
    assert "RETURNING" in next(q for q in sql if q.startswith("INSERT"))
    assert None not in pks
    assert sorted(pks) == sorted(
        Item.objects.using(ours).filter(name__in=["d", "e"]).values_list("pk", flat=True)
    )


@pytest.mark.parametrize(
    "options",
    [{}, {"format": "JSON"}, {"format": "text"}, {"analyze": True}, {"format": "TREE"}],
    ids=["default", "json", "text", "analyze", "tree"],
)
def test_explain_side_by_side(ours: str, djangos: str, options: dict[str, Any]) -> None:
    def explain(alias: str) -> Any:
        plan = Item.objects.using(alias).filter(value__gt=0).explain(**options)
        return plan.splitlines()[0].split()[0] if plan else plan  # row shapes, not costs

    result, sql = same_on_both(ours, djangos, explain)
    assert not [q for q in sql if "FORMAT=TREE" in q or "EXPLAIN ANALYZE" in q]
    if options.get("format") == "TREE":
        assert result[0] == "ValueError"  # Django refuses before the server sees it


def test_explain_on_mariadb(ours: str) -> None:
    _, sql = outcome(ours, lambda alias: Item.objects.using(alias).explain())
    assert sql[-1].startswith("EXPLAIN SELECT")
    _, sql = outcome(ours, lambda alias: Item.objects.using(alias).explain(analyze=True))
    assert sql[-1].startswith("ANALYZE SELECT")
    with pytest.raises(ValueError, match="TREE is not a recognized format"):
        Item.objects.using(ours).explain(format="TREE")


needs_any_value = pytest.mark.skipif(
    django.VERSION < (6, 0),
    reason="Django < 6.0 has no AnyValue aggregate and never sends ANY_VALUE",
)


def _any_value(alias: str) -> Any:
    from django.db.models import AnyValue  # type: ignore[attr-defined]

    return list(
        Item.objects.using(alias).values("kind").annotate(some=AnyValue("name")).order_by("kind")
    )


@needs_any_value
def test_any_value_is_djangos_not_supported_error(ours: str) -> None:
    assert connections[ours].features.supports_any_value is False
    with pytest.raises(NotSupportedError, match="ANY_VALUE is not supported"):
        _any_value(ours)


@needs_any_value
def test_any_value_side_by_side(ours: str, djangos: str) -> None:
    result, sql = same_on_both(ours, djangos, _any_value)
    assert result[0] == "NotSupportedError"
    assert not [q for q in sql if "ANY_VALUE" in q]


def test_group_by_aggregate_side_by_side(ours: str, djangos: str) -> None:
    def totals(alias: str) -> Any:
        return list(
            Item.objects.using(alias)
            .values("kind")
            .annotate(total=models.Sum("value"), n=models.Count("id"))
            .order_by("kind")
        )

    result, _ = same_on_both(ours, djangos, totals)
    assert result == [{"kind": "a", "total": 1, "n": 1}, {"kind": "b", "total": 2, "n": 1}]


# -- other MariaDB paths that change once the vendor is known ---------------------------


def test_regex_lookups_use_regexp_not_regexp_like(ours: str, djangos: str) -> None:
    def regex(alias: str) -> Any:
        return sorted(
            Item.objects.using(alias).filter(name__regex="^[ab]$").values_list("name", flat=True)
        )

    result, sql = same_on_both(ours, djangos, regex)
    assert result == ["a", "b"]
    assert "REGEXP_LIKE" not in sql[-1]


def test_uuid_field_is_a_native_uuid_column(ours: str, probe: Any) -> None:
    column_type = probe.execute_in_test_db(
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = 'multipool_mariadb_item'"
        " AND column_name = 'token'"
    )
    assert column_type == [("uuid",)]
    token = uuid.uuid4()
    Item.objects.using(ours).create(name="u", token=token)
    assert Item.objects.using(ours).get(token=token).token == token


def test_uuid_values_round_trip_side_by_side(ours: str, djangos: str) -> None:
    def by_token(alias: str) -> Any:
        return list(
            Item.objects.using(alias).filter(token=uuid.UUID(int=2)).values_list("name", "token")
        )

    result, _ = same_on_both(ours, djangos, by_token)
    assert result == [("b", uuid.UUID(int=2))]


def test_a_server_syntax_error_is_still_a_programming_error(ours: str) -> None:
    # The control for "never a server syntax error": one is recognisable.
    with pytest.raises(ProgrammingError), connections[ours].cursor() as cursor:
        cursor.execute("SELECT * FROM multipool_mariadb_item FOR UPDATE OF multipool")
