"""The storm bench's table, Markdown file, chart and target ratios."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from storm_db import STORM_CONNECTION_LIMIT
from storm_server import STACKS

from demo.load import percentile

if TYPE_CHECKING:
    from run import Result

VIEW_NAMES = {"a": "(a) sync, 1 query", "b": "(b) async, query + 0.2 s + query"}


def rate(result: Result) -> float | None:
    """2xx responses per second: failed requests do not count as served."""
    load = result.load
    if load is None or not load.elapsed:
        return None
    return load.ok / load.elapsed


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def cells(result: Result) -> list[str]:
    load = result.load
    if load is None:
        return ["-"] * 6 + [result.skipped or ""]
    latencies = load.all_latencies()
    failures = load.not_ok + sum(load.errors.values())
    notes = "; ".join(f"{n}x {what}" for what, n in result.server_errors.items())
    if load.errors:
        notes = "; ".join(
            filter(None, [", ".join(f"{n} {e}" for e, n in load.errors.items()), notes])
        )
    return [
        f"{rate(result):,.1f}",
        f"{load.ok:,}",
        f"{failures:,}" + (f" ({sum(load.errors.values()):,} no response)" if load.errors else ""),
        _ms(percentile(latencies, 50)),
        _ms(percentile(latencies, 99)),
        str(result.peak),
        notes,
    ]


HEADER = [
    "configuration",
    "view",
    "req/s (2xx)",
    "2xx",
    "non-2xx",
    "p50 ms",
    "p99 ms",
    "peak server conns",
    "notes",
]


def one_line(result: Result) -> str:
    if result.load is None:
        return result.skipped or "-"
    rps, ok, bad, p50, p99, peak, _ = cells(result)
    return f"{rps} req/s, {ok} 2xx, {bad} non-2xx, p50 {p50} ms, p99 {p99} ms, peak {peak} conns"


def table(results: list[Result]) -> str:
    rows = [HEADER, ["---"] * len(HEADER)]
    for r in results:
        rows.append([r.config.label, f"({r.view})", *cells(r)])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def write_markdown(
    path: Path,
    vendor: str,
    results: list[Result],
    args: argparse.Namespace,
    commit: str,
    machine: str,
) -> None:
    server = "pg_stat_activity" if vendor == "postgresql" else "information_schema.processlist"
    path.write_text(
        f"# Connection storm on {vendor}\n\n"
        f"`python bench/storm/run.py --vendor {vendor} --clients {args.clients} "
        f"--duration {args.duration:g} --stack {args.stack}` against django_multipool "
        f"at {commit}; uvicorn {' '.join(STACKS[args.stack])}. "
        f"{args.clients} concurrent clients, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s measured, a fresh uvicorn worker per row; pool size 20 "
        f"everywhere; peak server connections sampled every 50 ms from {server} "
        f"for the bench database. Views: {VIEW_NAMES['a']}; {VIEW_NAMES['b']}. "
        f"{os.cpu_count()} CPUs, {machine}.\n\n"
        f"{table(results)}\n"
    )


def chart(path: Path, vendor: str, results: list[Result], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = sorted({r.view for r in results})
    labels = list(dict.fromkeys(r.config.label for r in results))
    fig, axes = plt.subplots(
        1, len(views), figsize=(6.5 * len(views), 0.55 * len(labels) + 1.8), squeeze=False
    )
    for ax, view in zip(axes[0], views, strict=True):
        by_label = {r.config.label: r for r in results if r.view == view}
        rates = [rate(by_label[label]) or 0.0 for label in labels]
        top = max(rates, default=0.0) or 1.0
        colors = ["#1f77b4" if label.startswith("ours") else "#9e9e9e" for label in labels]
        ax.barh(range(len(labels)), rates, color=colors)
        for y, label in enumerate(labels):
            r = by_label.get(label)
            if r is None or r.load is None:
                text = "not run" if r is None else (r.skipped or "not run")
                text = "not available yet" if "not available" in text else text[:40]
            else:
                failures = r.load.not_ok + sum(r.load.errors.values())
                text = f"{rates[y]:,.0f}/s · peak {r.peak} conns"
                if failures:
                    text += f" · {failures:,} failed"
            ax.text(top * 0.01 + rates[y], y, " " + text, va="center", fontsize=8.5)
        ax.set_yticks(range(len(labels)), labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.75)
        ax.set_xlabel("successful requests/s (higher is better)")
        ax.set_title(VIEW_NAMES[view], fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(
        f"Connection storm, {vendor}: {args.clients} clients, pool size 20, one uvicorn worker",
        fontsize=11,
    )
    fig.text(
        0.01,
        0.01,
        f"bench role capped at {STORM_CONNECTION_LIMIT} server connections; "
        "failed = non-2xx or no response; bars in blue are django-multipool",
        fontsize=8,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _find(results: list[Result], key: str, view: str) -> Result | None:
    return next((r for r in results if r.config.key == key and r.view == view), None)


def _ratio(results: list[Result], view: str, num: str, den: str) -> str:
    a, b = _find(results, num, view), _find(results, den, view)
    if a is None or b is None:
        return "not measured in this run"
    ra, rb = rate(a), rate(b)
    if ra is None:
        return a.skipped or "not measured"
    if rb is None:
        return b.skipped or "not measured"
    if not rb:
        return f"{ra:,.1f} / 0 req/s (denominator served nothing)"
    errors = a.load.not_ok + sum(a.load.errors.values()) if a.load else 0
    return f"{ra / rb:.2f}x ({ra:,.1f} / {rb:,.1f} req/s; {errors} failed, peak {a.peak} conns)"


def ratios(all_results: dict[str, list[Result]]) -> str:
    pg, my = all_results.get("postgresql", []), all_results.get("mariadb", [])
    t, r = "ours-transaction", "ours-request"
    lines = ["Issue 4's target ratios from this run (printed, not asserted):"]
    for vendor, results in (("postgresql", pg), ("mariadb", my)):
        if vendor not in all_results:
            continue
        clients = {res.clients for res in results}
        lines.append(f"  [{vendor}, {'/'.join(map(str, clients)) or '-'} clients]")
        if vendor == "postgresql":
            lines.append(
                f"    (b) transaction ÷ Django's pool   (target ≥ 3):   "
                f"{_ratio(results, 'b', t, 'django-pool')}"
            )
            lines.append(
                f"    (b) transaction ÷ PgBouncer       (target ≥ 1.2): "
                f"{_ratio(results, 'b', t, 'pgbouncer')}"
            )
        else:
            lines.append(
                f"    (b) transaction ÷ dj-db-conn-pool (target ≥ 3):   "
                f"{_ratio(results, 'b', t, 'dj-db-conn-pool')}"
            )
        lines.append(
            f"    (a) transaction ÷ request         (target ≥ 0.9): {_ratio(results, 'a', t, r)}"
        )
        if _find(results, t, "c") is not None:
            # "At most 10 % slower": request-mode throughput / transaction's <= 1.10.
            lines.append(
                f"    (c) request ÷ transaction         (target ≤ 1.1): "
                f"{_ratio(results, 'c', r, t)}"
            )
    return "\n".join(lines)
