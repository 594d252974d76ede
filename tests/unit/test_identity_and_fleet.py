"""The identity a pool's sessions announce, and how the fleet view adds them up."""

from __future__ import annotations

from django_multipool.fleet import Limits, SessionRow, summarize
from django_multipool.identity import MAX_LENGTH, PoolIdentity


def test_identity_round_trips_through_its_text() -> None:
    identity = PoolIdentity("default", 20, 4242, "web-1")
    assert identity.text() == "multipool:default:max20:4242@web-1"
    assert PoolIdentity.parse(identity.text()) == identity


def test_a_long_host_then_a_long_pool_name_are_shortened_never_the_size_or_pid() -> None:
    host = "checkout-api-7f9c8d6b5-x2k4z.eu-west-1.compute.internal"
    text = PoolIdentity("default", 20, 4194304, host).text()
    assert len(text.encode()) <= MAX_LENGTH
    parsed = PoolIdentity.parse(text)
    assert parsed is not None
    assert (parsed.pool, parsed.max_size, parsed.pid) == ("default", 20, 4194304)
    assert host.startswith(parsed.host) and len(parsed.host) >= 4

    both = PoolIdentity("p" * 80, 1000, 4194304, "h" * 80).text()
    parsed = PoolIdentity.parse(both)
    assert len(both) <= MAX_LENGTH and parsed is not None
    assert (parsed.max_size, parsed.pid) == (1000, 4194304)
    assert parsed.pool.startswith("pppp") and parsed.host == "hhhh"


def test_spaces_and_non_ascii_in_names_cannot_break_the_form() -> None:
    identity = PoolIdentity.of_this_process("read replica: é (eu)", 5)
    assert identity.pool == "read_replica_____eu_"
    assert PoolIdentity.parse(identity.text()) == identity


def test_other_applications_are_not_taken_for_ours() -> None:
    for text in (
        None,
        "",
        "psql",
        "multipool",
        "multipool:x:maxa:1@h",
        "multipool x max=5 1@h",
        "pgAdmin 4 - DB:x",
    ):
        assert PoolIdentity.parse(text) is None


def row(identity: str | None, state: str = "idle", user: str = "app", client: str = "10.0.0.5"):
    return SessionRow(identity, user, client, state)


def test_summarize_groups_ours_by_process_and_adds_each_pools_max_once() -> None:
    a = PoolIdentity("default", 10, 100, "web-1").text()
    b = PoolIdentity("default", 10, 101, "web-1").text()
    c = PoolIdentity("default", 10, 100, "web-2").text()  # same pid, another host
    rows = [row(a), row(a, "active"), row(b, "idle in transaction"), row(c)]
    rows += [row("psql", "active", user="dba"), row(None)]
    view = summarize("postgresql", Limits(100, {"superuser_reserved_connections": 3}), rows)
    assert [(g.name, g.host, g.pid, g.sessions) for g in view.pools] == [
        ("default", "web-1", 100, 2),
        ("default", "web-1", 101, 1),
        ("default", "web-2", 100, 1),
    ]
    assert (view.pools[0].active, view.pools[0].idle) == (1, 1)
    assert view.pools[1].idle_in_transaction == 1
    assert (view.fleet_max, view.fleet_sessions, view.other_sessions) == (30, 4, 2)
    assert view.limits.for_clients == 97 and not view.exhausts and view.warnings == []


def test_summarize_warns_when_the_pools_at_max_size_pass_what_ordinary_users_get() -> None:
    rows = [row(PoolIdentity("default", 25, pid, "h").text()) for pid in range(4)]
    limits = Limits(100, {"superuser_reserved_connections": 3})
    view = summarize("postgresql", limits, rows)
    assert view.fleet_max == 100 and view.exhausts
    [warning] = view.warnings
    assert "may open 100 sessions" in warning and "than the 97" in warning

    # Near the limit but not past it: a softer warning.
    near = summarize("postgresql", limits, rows[:3] + [row("psql")] * 13)
    assert not near.exhausts and len(near.warnings) == 1 and "10%" in near.warnings[0]


def test_summarize_leaves_out_the_asking_process() -> None:
    mine = PoolIdentity("default", 50, 7, "cli").text()
    view = summarize("mysql", Limits(151), [row(mine)], exclude_pid=(7, "cli"))
    assert view.groups == [] and view.fleet_max == 0


def test_behind_a_pooler_the_pools_max_is_not_the_servers_budget() -> None:
    rows = [row(PoolIdentity("default", 50, pid, "h").text()) for pid in range(3)]
    view = summarize("postgresql", Limits(100), rows, behind="pgbouncer-transaction")
    assert view.fleet_max == 150 and not view.exhausts and view.warnings == []
    assert any("max_client_conn" in note for note in view.notes)
    assert view.as_dict()["behind"] == "pgbouncer-transaction"
