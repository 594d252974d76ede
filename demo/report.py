"""The table ``python -m demo`` prints, and the checks that decide its exit status."""

from __future__ import annotations

from dataclasses import dataclass

from demo.load import LoadResult, percentile


@dataclass
class Run:
    load: LoadResult
    max_size: int
    #: Server-side session counts on the demo database, one per sample.
    samples: list[int]
    sample_interval: float
    #: ``/stats/`` once every pool was at rest, and how long that took.
    stats: dict[str, dict[str, int]]
    settle_seconds: float
    #: Sessions on the demo database after the burst, and rows the views wrote.
    connections_after: int
    rows_written: int

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def checks(self) -> list[tuple[str, bool]]:
        pools_at_rest = bool(self.stats) and all(
            s["pool_available"] == s["pool_size"] for s in self.stats.values()
        )
        size = sum(s["pool_size"] for s in self.stats.values())
        return [
            ("every request got a 2xx", self.load.not_ok == 0 and not self.load.errors),
            (f"server never saw more than max_size={self.max_size}", self.peak <= self.max_size),
            ("after the burst every connection is back (available == size)", pools_at_rest),
            ("the server's sessions are the pool's connections", self.connections_after == size),
            ("one row written per 2xx response", self.rows_written == self.load.ok),
        ]


_NOTE = (
    "/async/ holds its connection across its 0.2 s await (release='request'), so\n"
    "requests queue for the pool: see requests_queued and requests_wait_ms. The\n"
    "server still never sees more than max_size sessions, and none leak."
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def render(run: Run) -> str:
    load = run.load
    latencies = load.all_latencies()
    rows: list[tuple[str, str]] = [
        ("LOAD", f"{load.clients} concurrent clients, {load.elapsed:.1f} s"),
        ("requests served (2xx)", f"{load.ok:,}"),
        ("non-2xx / errors", f"{load.not_ok:,} / {sum(load.errors.values()):,}"),
        ("requests/s", f"{load.responses / load.elapsed:,.1f}" if load.elapsed else "-"),
        (
            "latency p50 / p99",
            f"{_ms(percentile(latencies, 50))} / {_ms(percentile(latencies, 99))}",
        ),
    ]
    for path, values in load.latencies.items():
        values = sorted(values)
        rows.append(
            (
                f"  {path}",
                f"{len(values):,} requests, p50 {_ms(percentile(values, 50))}, "
                f"p99 {_ms(percentile(values, 99))}",
            )
        )
    for name, count in load.errors.most_common():
        rows.append((f"  error {name}", f"{count:,}"))
    for status, count in sorted(load.statuses.items()):
        if not 200 <= status < 300:
            rows.append((f"  HTTP {status}", f"{count:,}"))
    rows += [
        (
            "SERVER",
            f"pg_stat_activity, {len(run.samples)} samples every {_ms(run.sample_interval)}",
        ),
        ("peak connections", f"{run.peak} (pool max_size {run.max_size})"),
        ("connections after the burst", str(run.connections_after)),
        ("rows written", f"{run.rows_written:,}"),
    ]
    for alias, stats in run.stats.items():
        rows.append(
            (
                f"POOL {alias!r}",
                f"django_multipool.pool_stats(), at rest after {_ms(run.settle_seconds)}",
            )
        )
        rows += [(key, f"{value:,}") for key, value in stats.items()]
    width = max(len(label) for label, _ in rows) + 4
    lines = []
    for label, value in rows:
        if label.isupper() or label.startswith("POOL "):
            lines += ["", f"{label:<{width}}{value}", "-" * (width + len(value))]
        else:
            lines.append(f"  {label:<{width - 2}}{value}")
    lines += ["", _NOTE, ""]
    for description, passed in run.checks():
        lines.append(f"[{'ok' if passed else 'FAILED'}] {description}")
    return "\n".join(lines)
