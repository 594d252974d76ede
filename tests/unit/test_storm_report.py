"""bench.storm's rounds: a row is its median run, and a ratio is taken round by round."""

from __future__ import annotations

from typing import Any

from bench.storm import report
from bench.storm.db import BY_KEY


def run(key: str, view: str, rate: float, p99: int = 100) -> dict[str, Any]:
    metrics = {
        "req_per_s": rate,
        "ok": int(rate * 8),
        "failed": 0,
        "no_response": 0,
        "p50_ms": 50,
        "p99_ms": p99,
        "peak_conns": 20,
        "server_errors": {},
    }
    return {"contender": BY_KEY[key].label, "case": f"({view})", "metrics": metrics}


def test_a_row_of_rounds_is_its_median_run_with_every_rounds_figures() -> None:
    row = report.median_row(
        [run("no-pool", "a", r, p99) for r, p99 in [(300, 9), (100, 7), (200, 8)]]
    )
    assert row["metrics"]["req_per_s"] == 200
    assert row["metrics"]["p99_ms"] == 8  # the median run's own, not a mix
    assert row["metrics"]["runs_req_per_s"] == [300, 100, 200]  # in round order
    assert row["metrics"]["runs_p99_ms"] == [9, 7, 8]
    assert "200.0 (100.0 to 300.0)" in report.cells(row)


def test_a_round_that_did_not_run_is_said_in_the_row() -> None:
    failed = {**run("no-pool", "a", 0), "metrics": {}, "note": "failed to run: boom"}
    row = report.median_row([run("no-pool", "a", 100), failed])
    assert "1 of 2 rounds: failed to run: boom" in row["note"]


def test_target_ratios_pair_each_round_with_the_same_round() -> None:
    # Per round 2.0, 1.0 and 3.0: the median ratio is 2.0, where the two
    # rows' own medians (300 and 100, from different rounds) would say 3.0.
    ours = report.median_row([run("ours-request", "a", r) for r in (400, 100, 300)])
    theirs = report.median_row([run("no-pool", "a", r) for r in (200, 100, 100)])
    lines = [
        line
        for line in report.ratios("mysql", [ours, theirs])
        if line.startswith("(a) ours-request ÷ no-pool")
    ]
    assert lines == [
        "(a) ours-request ÷ no-pool (target ≥ 1.3): 2.00x, median of 3 rounds (range 1.00 to "
        "3.00) (300.0 / 100.0 req/s in the median runs; 0 failed, peak 20 conns)"
    ]


def test_the_p99_target_compares_latencies() -> None:
    ours = report.median_row([run("ours-request", "d", 100, p99) for p99 in (90, 120, 100)])
    django = report.median_row([run("django-pool", "d", 100, p99) for p99 in (100, 100, 100)])
    line = next(line for line in report.ratios("postgresql", [ours, django]) if "p99" in line)
    assert line.startswith("(d) ours-request p99 ÷ django-pool (target ≤ 1.0): 1.00x, median")
    assert "range 0.90 to 1.20" in line


def test_each_round_starts_one_configuration_later() -> None:
    from bench.storm.__main__ import rotated

    orders = [rotated(["a", "b", "c"], n) for n in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert rotated([], 2) == []
