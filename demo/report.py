"""The tables ``python -m demo`` prints, a verdict per row, and the checks behind its exit."""

from __future__ import annotations

from demo.load import percentile
from demo.runs import Measured


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _top_exception(row: Measured) -> str:
    # The server's log covers the warm-up too, so its counts are not the row's.
    if row.exceptions:
        return f"mostly {row.exceptions.most_common(1)[0][0]}"
    if row.load.errors:
        name, count = row.load.errors.most_common(1)[0]
        return f"{count:,}x no response ({name})"
    return ""


def verdict(row: Measured, rows: list[Measured], max_size: int) -> str:
    """One line: correct or not, why, and what it cost against Django's pool."""
    load = row.load
    sent = load.responses + sum(load.errors.values())
    why = row.config.fork_why if row.scenario == "fork" else row.config.why
    if load.wrong:
        failed = f", {load.failed:,} more failed" if load.failed else ""
        return (
            f"WRONG ANSWERS: {load.wrong:,} of {load.ok:,} 2xx carried another request's "
            f"result{failed}: {why}"
        )
    if load.failed:
        return f"FAILS: {load.failed:,} of {sent:,} requests ({_top_exception(row)}): {why}"
    if row.scenario == "fork":
        return f"correct, all {load.ok:,} answers their own: {why}"
    if row.config.pool is None:
        return f"no errors, but {row.peak} server sessions for {load.clients} clients: {why}"
    line = f"no errors: {why}"
    baseline = next(
        (r for r in rows if r.config.key == "django-pool" and r.scenario == row.scenario), None
    )
    if (
        row.config.ours
        and baseline is not None
        and not baseline.load.failed
        and baseline.requests_per_second
    ):
        ratio = row.requests_per_second / baseline.requests_per_second
        line += f"; {ratio:.1f}x Django's pool's requests/s, same {max_size} connections"
    return line


def table(rows: list[Measured], max_size: int) -> str:
    header = ("configuration", "req/s", "failed", "wrong", "p50", "p99", "peak sessions")
    lines_of: list[tuple[str, ...]] = [header]
    for row in rows:
        latencies = row.load.all_latencies()
        lines_of.append(
            (
                row.config.label,
                f"{row.requests_per_second:,.1f}",
                f"{row.load.failed:,}",
                f"{row.load.wrong:,}",
                _ms(percentile(latencies, 50)),
                _ms(percentile(latencies, 99)),
                f"{row.peak}",
            )
        )
    widths = [max(len(cells[i]) for cells in lines_of) for i in range(len(header))]

    def format_row(cells: tuple[str, ...]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        pairs = zip(cells[1:], widths[1:], strict=True)
        rest = "  ".join(f"{cell:>{width}}" for cell, width in pairs)
        return f"  {first}  {rest}"

    out = [format_row(header), "  " + "-" * (sum(widths) + 2 * (len(widths) - 1))]
    for row, cells in zip(rows, lines_of[1:], strict=True):
        out.append(format_row(cells))
        out.append(f"      -> {verdict(row, rows, max_size)}")
    return "\n".join(out)


def checks(
    rows: list[Measured], max_size: int, processes: dict[str, int]
) -> list[tuple[str, bool]]:
    """What must hold for ours; Django's own configurations are shown, not judged.

    ``processes`` says how many processes of the site each scenario runs
    (gunicorn's master and workers each hold a pool of their own).
    """
    found: list[tuple[str, bool]] = []
    for row in rows:
        if not row.config.ours:
            continue
        name = f"{row.config.label}, {row.scenario}"
        load = row.load
        bound = max_size * processes[row.scenario]
        per = f"{processes[row.scenario]} processes x " if processes[row.scenario] > 1 else ""
        found += [
            (f"{name}: every request got a 2xx", load.failed == 0),
            (f"{name}: every answer carried its own query's result", load.wrong == 0),
            (
                f"{name}: the server never saw more than {per}max_size={max_size} sessions",
                row.peak <= bound,
            ),
        ]
        if row.scenario == "asgi":
            size = sum(s["pool_size"] for s in row.stats.values())
            found += [
                (f"{name}: at rest every connection is back (available == size)", row.at_rest),
                (
                    f"{name}: the server's sessions are the pool's connections",
                    row.sessions_after == size,
                ),
            ]
    return found
