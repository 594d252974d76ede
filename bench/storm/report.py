"""The storm's result rows, its console table and the issues' target ratios, from those rows.

A row is what bench/results/storm-<vendor>.json holds: ``contender`` (the
configuration's label), ``case`` (the view), ``metrics`` and a ``note``.
bench/render.py builds the results page from the same rows.
"""

from __future__ import annotations

from typing import Any

from demo.load import LoadResult, percentile

from .db import BY_KEY

VIEW_NAMES = {
    "a": "(a) sync, 1 query",
    "b": "(b) async, query + 0.2 s + query",
    "c": "(c) sync, 20 queries",
    "d": "(d) sync, a DRF list page",
}
#: Issues 4's, 16's and 18's targets: (vendor, view, numerator, denominator,
#: target text[, metric]); the metric is req/s unless given.
TARGETS: list[tuple[str, ...]] = [
    ("postgresql", "b", "ours-transaction", "django-pool", "≥ 3.5"),
    ("postgresql", "b", "ours-transaction", "pgbouncer", "≥ 1.3"),
    ("mysql", "b", "ours-transaction", "dj-db-conn-pool", "≥ 3.5"),
    ("postgresql", "b", "ours-transaction", "ceiling", "≥ 0.75"),
    ("mysql", "b", "ours-transaction", "ceiling", "≥ 0.75"),
    ("postgresql", "a", "ours-transaction", "ours-request", "≥ 0.9"),
    ("mysql", "a", "ours-transaction", "ours-request", "≥ 0.9"),
    # "At most 10 % slower": request-mode throughput / transaction's <= 1.10.
    ("postgresql", "c", "ours-request", "ours-transaction", "≤ 1.1"),
    ("mysql", "c", "ours-request", "ours-transaction", "≤ 1.1"),
    # Issue 16: the sync view against Django's MySQL backend without a pool.
    ("mysql", "a", "ours-request", "no-pool", "≥ 1.3"),
    ("mysql", "a", "ours-transaction", "no-pool", "≥ 1.3"),
    # Issue 18: request mode on a sync DRF-style view (run it with --clients 500).
    ("postgresql", "d", "ours-request", "django-pool", "≥ 1.0"),
    ("postgresql", "d", "ours-request", "django-pool", "≤ 1.0", "p99_ms"),
]
#: Per-run figures a row made of several rounds keeps (median_row).
RUN_METRICS = ("req_per_s", "p99_ms")


def metrics(load: LoadResult, peak: int, server_errors: dict[str, int]) -> dict[str, Any]:
    latencies = load.all_latencies()
    return {
        "req_per_s": round(load.ok / load.elapsed, 1) if load.elapsed else 0.0,
        "ok": load.ok,
        "failed": load.not_ok + sum(load.errors.values()),
        "no_response": sum(load.errors.values()),
        "p50_ms": round(percentile(latencies, 50) * 1000),
        "p99_ms": round(percentile(latencies, 99) * 1000),
        "peak_conns": peak,
        "server_errors": server_errors,
    }


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration and view's rounds as one row: its median run, with every run's figures.

    The median by req/s (the lower middle one of an even count), so the row's
    figures are one real run's, not a mix; ``runs_<metric>`` keep each
    round's, in round order, for ratios() to pair with the same round of
    another row.
    """
    if len(runs) == 1:
        return runs[0]
    measured = [r for r in runs if "req_per_s" in r["metrics"]]
    if len(measured) < len(runs):
        # A round that failed to run: the row says so rather than hiding it.
        failed = next(r for r in runs if "req_per_s" not in r["metrics"])
        note = f"{len(runs) - len(measured)} of {len(runs)} rounds: {failed.get('note')}"
        return {**(measured[0] if measured else failed), "note": note}
    ordered = sorted(measured, key=lambda r: r["metrics"]["req_per_s"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["metrics"] = dict(row["metrics"])
    for metric in RUN_METRICS:
        row["metrics"][f"runs_{metric}"] = [r["metrics"][metric] for r in runs]
    return row


def spread(values: list[float]) -> str:
    return f"{min(values):,.1f} to {max(values):,.1f}"


def one_line(row: dict[str, Any]) -> str:
    m = row["metrics"]
    if "req_per_s" not in m:
        return str(row.get("note") or "-")
    return (
        f"{m['req_per_s']:,.1f} req/s, {m['ok']:,} 2xx, {m['failed']:,} failed, "
        f"p50 {m['p50_ms']:,} ms, p99 {m['p99_ms']:,} ms, peak {m['peak_conns']} conns"
    )


HEADER = [
    "configuration",
    "view",
    "req/s (2xx; rounds' range)",
    "2xx",
    "non-2xx",
    "p50 ms",
    "p99 ms",
    "peak server conns",
    "of ceiling",
    "notes",
]


def _case(row: dict[str, Any]) -> str:
    """The view, with its clients where the row says (rows of older results do not)."""
    return f"{row['case']}, {row['clients']} clients" if "clients" in row else row["case"]


def cells(row: dict[str, Any], ceiling: float | None = None) -> list[str]:
    """A row's cells; ``ceiling``: the ceiling's req/s on the same view, if measured."""
    m = row["metrics"]
    if "req_per_s" not in m:
        return [row["contender"], _case(row), *["-"] * 7, str(row.get("note") or "")]
    notes = "; ".join(f"{n}x {what}" for what, n in m["server_errors"].items())
    if m["no_response"]:
        notes = "; ".join(filter(None, [f"{m['no_response']:,} no response", notes]))
    return [
        row["contender"],
        _case(row),
        f"{m['req_per_s']:,.1f}"
        + (f" ({spread(m['runs_req_per_s'])})" if "runs_req_per_s" in m else ""),
        f"{m['ok']:,}",
        f"{m['failed']:,}",
        f"{m['p50_ms']:,}",
        f"{m['p99_ms']:,}",
        str(m["peak_conns"]),
        f"{m['req_per_s'] / ceiling:.2f}" if ceiling else "-",
        notes.replace("|", "/"),
    ]


def table(rows: list[dict[str, Any]]) -> str:
    """The rows, each with its rate as a fraction of the ceiling's on the same view."""
    label = BY_KEY["ceiling"].label
    ceilings = {r["case"]: r["metrics"].get("req_per_s") for r in rows if r["contender"] == label}
    body = [cells(r, ceilings.get(r["case"])) for r in rows]
    lines = [HEADER, ["---"] * len(HEADER), *body]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _find(rows: list[dict[str, Any]], key: str, view: str) -> dict[str, Any] | None:
    label = BY_KEY[key].label
    return next((r for r in rows if r["contender"] == label and r["case"] == f"({view})"), None)


UNITS = {"req_per_s": "req/s", "p99_ms": "ms p99"}


def ratios(vendor: str, rows: list[dict[str, Any]]) -> list[str]:
    """The target ratios that this vendor's rows can answer.

    Rows made of several rounds are compared round by round (each round's
    runs are minutes apart from the next round's): the median of those
    ratios, and their range.
    """
    lines = []
    for target_vendor, view, num, den, target, *rest in TARGETS:
        metric = rest[0] if rest else "req_per_s"
        a, b = _find(rows, num, view), _find(rows, den, view)
        if target_vendor != vendor or a is None or b is None:
            continue
        ra, rb = a["metrics"].get(metric), b["metrics"].get(metric)
        unit = UNITS[metric]
        if ra is None or rb is None:
            answer = (a if ra is None else b).get("note") or "not measured"
        elif not rb:
            answer = f"{ra:,.1f} / 0 {unit} (the denominator is zero)"
        else:
            runs_a, runs_b = a["metrics"].get(f"runs_{metric}"), b["metrics"].get(f"runs_{metric}")
            if runs_a and runs_b and len(runs_a) == len(runs_b) and all(runs_b):
                per_round = sorted(x / y for x, y in zip(runs_a, runs_b, strict=True))
                middle = per_round[(len(per_round) - 1) // 2]
                figure = (
                    f"{middle:.2f}x, median of {len(per_round)} rounds "
                    f"(range {per_round[0]:.2f} to {per_round[-1]:.2f})"
                )
            else:
                figure = f"{ra / rb:.2f}x"
            answer = (
                f"{figure} ({ra:,.1f} / {rb:,.1f} {unit} in the median runs; "
                f"{a['metrics']['failed']} failed, peak {a['metrics']['peak_conns']} conns)"
            )
        what = num if metric == "req_per_s" else f"{num} p99"
        lines.append(f"({view}) {what} ÷ {den} (target {target}): {answer}")
    return lines
