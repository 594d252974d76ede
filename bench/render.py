"""Render the results page, docs/benchmarks.md, and its charts from bench/results/*.json.

    python -m bench.render [--results bench/results] [--page docs/benchmarks.md]

Every figure on the page comes from a results file; the page says when, on
what and at which commit each was measured. Charts land in docs/img/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench._bootstrap import RESULTS, ROOT, SCHEMA
from bench.storm import report as storm_report

#: Per bench: title, what it measures, the command, and per chart the cases
#: and the metric to draw (with its axis label), in page order.
BENCHES: dict[str, dict[str, Any]] = {
    "checkout": {
        "title": "Checkout cycle",
        "command": "python -m bench.checkout",
        "about": (
            "What one checkout and return costs. *pool cycle*: our backend's pool "
            "(`acquire()` + `release()`) against the driver's own pool with the same sizes; "
            "*Django cycle*: `connection.ensure_connection()` + `connection.close()`, the life "
            "of a request's connection, against Django's own pooled backend and a new "
            "connection per cycle. Best of interleaved rounds. *round trips*: what the server "
            "sees per cycle, counted outside django-multipool (libpq's protocol trace, "
            "MariaDB's session counters, commands written to mysql-connector's socket); the "
            "controls must show 1.00, so a 0.00 is not a blind counter."
        ),
        "chart": (
            ["pool cycle", "Django cycle"],
            "us_per_cycle",
            "µs per cycle (lower is better)",
        ),
    },
    "release_cost": {
        "title": "Release cost: transaction against request mode, with and without parking",
        "command": "python -m bench.release_cost",
        "about": (
            'Two aliases that differ only in `OPTIONS["pool"]["release"]`. *20-query view*: '
            "20 x `SELECT 1` through Django's cursor, then `close_old_connections()`, in one "
            "thread, no HTTP; the median over requests, the modes alternating request by "
            "request. *empty cursor*: `with connection.cursor(): pass`, best of rounds; "
            "the difference between the modes is what a release and a re-lease add to every "
            "statement. *parking off*: transaction mode with its adapter's `parks` turned off, "
            "so each statement's connection goes through the pool's return path and a "
            "checkout; the difference to transaction mode is what parking buys."
        ),
        "chart": (
            ["20-query view", "empty cursor"],
            None,
            "µs (lower is better)",
        ),
    },
    "storm": {
        "title": "Connection storm",
        "command": "python -m bench.storm",
        "about": (
            "A small Django site under `uvicorn --workers 1` on the same machine, hit by "
            "concurrent clients while a thread samples the server's sessions every 50 ms; "
            "every way of pooling Django's connections in one run, each with a pool of 20. "
            "The site's login is capped at 60 server connections, so the configurations "
            "without a bound fail on that cap instead of taking a shared server's every "
            "connection. View (a): sync, one primary-key read. View (b): async, a read, "
            "`await asyncio.sleep(0.2)` (an HTTP call), a read. View (c): sync, 20 reads. "
            "View (d): sync, a Django REST framework list page (a `COUNT(*)`, 10 rows through "
            "a `ModelSerializer`). *ceiling*: the same views without a query. With "
            "`--rounds N`, a row is its median run, with the rounds' range, and a target "
            "ratio is the median of the per-round ratios. *req/s* counts 2xx only."
        ),
        "chart": (None, "req_per_s", "successful requests/s (higher is better)"),
    },
    "growth": {
        "title": "Growth under a burst: a pool of 40 meets 60 busy threads",
        "command": "python -m bench.growth",
        "about": (
            "A new pool (`min_size=2`, `max_size=40`) meets 60 threads at once, each looping "
            "checkout, a 50 ms server-side sleep, return. A sampler on its own connection "
            "counts the server's sessions every 5 ms: seconds until the server holds 40, "
            "per round (a new pool each), their median and the worst round. Target: within "
            "one second."
        ),
        "chart": None,
    },
    "profile": {
        "title": "Profile: where a storm request's time goes",
        "command": "python -m bench.profile",
        "about": (
            "The storm site under load, sampled by `py-spy record --gil` (200 Hz): each "
            "sample of the thread holding the GIL goes to its innermost frame's owner, and "
            "each owner's samples become ms of GIL time per request. *process CPU*: the "
            "uvicorn process's user + system time per request; *CPU with the GIL released*: "
            "the difference, spent in C code (the drivers' network calls), the kernel and "
            "hand-offs between threads. The database server's time is not in this process."
        ),
        "chart": None,
    },
    "soak": {
        "title": "Soak: do sessions and memory stay flat?",
        "command": "python -m bench.storm --soak 600",
        "about": (
            "The storm's load on one configuration for minutes. Flat: the median of the last "
            "third of the samples after the warm-up is at most the first third's plus a "
            "tolerance (sessions +1; memory 5 % + 2 MiB; threads and fds 10 % + 2), the "
            "session peak never exceeds `max_size`, and no request fails. The app's threads "
            "follow the requests in flight (asgiref runs each request's sync code on a thread "
            "of its own), so a quick run, which judges 45 s, says little about them."
        ),
        "chart": None,
    },
}
VENDOR_TITLES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
#: How the contenders that are django-multipool's are named (drawn in blue).
OURS = ("ours", "release=")
#: Column headings for the metric names of the results files.
LABELS = {
    "us_per_cycle": "µs per cycle",
    "round_trips_per_cycle": "round trips per cycle",
    "us_per_request": "µs per request (median)",
    "us_per_statement": "µs per statement",
    "extra_us": "µs more than request mode",
    "trend_per_min": "trend per minute",
    "median_s": "s to max_size (median)",
    "worst_s": "s (worst round)",
    "rounds_s": "s per round",
    "missed": "rounds that missed",
    "peak_sessions": "peak server sessions",
    "first_third": "median, first third",
    "last_third": "median, last third",
    "req_per_s": "req/s",
    "peak_conns": "peak server conns",
}


def load(results: Path) -> list[dict[str, Any]]:
    documents = []
    for path in sorted(results.glob("*.json")):
        document = json.loads(path.read_text())
        if document.get("schema") != SCHEMA:
            raise SystemExit(f"{path}: schema {document.get('schema')!r}, expected {SCHEMA}")
        document["path"] = path
        documents.append(document)
    return documents


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "/")


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def environment(document: dict[str, Any]) -> str:
    env = document["environment"]
    drivers = ", ".join(f"{name} {version}" for name, version in env["drivers"].items())
    load_before, load_after = env["load_average"]
    quick = "a quick run (`--quick`: short; the shape, not the digits), " * document["quick"]
    return (
        f"Measured {document['date'][:10]}, {quick}django_multipool at {env['django_multipool']}; "
        f"{env['server'].split(' on ')[0].split(',')[0]}; Python {env['python']}, "
        f"Django {env['django']}; {drivers}; {env['cpus']} CPUs, 1-minute load average "
        f"{load_before} before and {load_after} after (the machine was shared with other "
        f"work, so the ratios within a run say more than the absolute figures). "
        f"Data: `{shown(document['path'])}`."
    )


def tables(rows: list[dict[str, Any]]) -> list[str]:
    """One table per set of metrics, in the order the rows first use them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r["metrics"]), []).append(r)
    out = []
    for keys, chosen in groups.items():
        header = ["contender", "case", *(LABELS.get(k, k) for k in keys)]
        lines = [header, ["---"] * len(header)]
        for r in chosen:
            metrics = [fmt(r["metrics"][k]) for k in keys]
            lines.append([fmt(r["contender"]), fmt(r["case"]), *metrics])
        out += ["\n".join("| " + " | ".join(line) + " |" for line in lines), ""]
    return out


def chart_path(document: dict[str, Any], img: Path) -> Path | None:
    if BENCHES[document["bench"]]["chart"] is None:
        return None
    return img / f"{document['bench']}-{document['vendor']}.png"


def chart(document: dict[str, Any], path: Path) -> None:
    """Draw the bench's chart of ``document`` into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases, metric, xlabel = BENCHES[document["bench"]]["chart"]
    rows = document["results"]
    cases = cases or list(dict.fromkeys(r["case"] for r in rows))
    panels = []
    for case in cases:
        mine = [r for r in rows if r["case"] == case]
        key = metric or next(
            (k for r in mine for k in r["metrics"] if k.startswith("us_per")), None
        )
        # Rows of the metric, and rows that did not run (they say why).
        chosen = [r for r in mine if key in r["metrics"] or r.get("note")]
        if chosen and key:
            panels.append((case, key, chosen))
    assert panels, f"{document['path']}: no rows to draw"
    height = 0.5 * max(len(p[2]) for p in panels) + 1.8
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), height), squeeze=False)
    for ax, (case, key, chosen) in zip(axes[0], panels, strict=True):
        values = [float(r["metrics"].get(key) or 0.0) for r in chosen]
        top = max(values, default=0.0) or 1.0
        colors = ["#1f77b4" if r["contender"].startswith(OURS) else "#9e9e9e" for r in chosen]
        ax.barh(range(len(chosen)), values, color=colors)
        for y, r in enumerate(chosen):
            m = r["metrics"]
            if key not in m:
                text = (r.get("note") or "not run").split(" (")[0][:45]
            elif "peak_conns" in m:
                text = f"{values[y]:,.0f}/s · peak {m['peak_conns']} conns"
                text += f" · {m['failed']:,} failed" if m["failed"] else ""
            else:
                text = f"{values[y]:,.2f}"
            ax.text(values[y] or top * 0.01, y, " " + text, va="center", fontsize=8.5)
        ax.set_yticks(range(len(chosen)), [r["contender"] for r in chosen], fontsize=9)
        ax.invert_yaxis()
        positive = [v for v in values if v > 0]
        if positive and top / min(positive) > 50:
            # A new connection per cycle next to a pooled one: only a log scale shows both.
            ax.set_xscale("log")
            ax.set_xlim(min(positive) / 2, top * 20)
        else:
            ax.set_xlim(0, top * 1.6)
        ax.set_xlabel(xlabel)
        name = storm_report.VIEW_NAMES.get(case.strip("()"), case)
        ax.set_title(name, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    title = BENCHES[document["bench"]]["title"]
    fig.suptitle(f"{title}, {VENDOR_TITLES[document['vendor']]}", fontsize=11)
    fig.text(
        0.01,
        0.01,
        f"{document['date'][:10]}, django_multipool at "
        f"{document['environment']['django_multipool']}; blue: django-multipool",
        fontsize=8,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def section(document: dict[str, Any], page: Path, img: Path, charts: bool) -> list[str]:
    rows = document["results"]
    vendor = document["vendor"]
    lines = [f"### {VENDOR_TITLES[vendor]}", "", environment(document), ""]
    if document["bench"] == "storm":
        lines.append(storm_report.table(rows))
        if ratios := storm_report.ratios(vendor, rows):
            lines += ["", "The issues' target ratios in this run:", ""]
            lines += [f"- {line}" for line in ratios]
    else:
        lines += tables(rows)[:-1]
    for note in document["notes"]:
        lines += ["", f"Note: {note}"]
    if (picture := chart_path(document, img)) is not None:
        if charts:
            chart(document, picture)
        relative = picture.relative_to(page.parent)
        lines += ["", f"![{BENCHES[document['bench']]['title']}, {vendor}]({relative})"]
    return [*lines, ""]


def render(results: Path, page: Path, *, charts: bool = True) -> str:
    """The page's text; with ``charts``, the charts are drawn beside it (docs/img/)."""
    documents = load(results)
    img = page.parent / "img"
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench.render` from bench/results/*.json; do not edit. -->",
        "",
        "Each benchmark compares its contenders in the same run, because absolute figures "
        "change from one machine and minute to the next; read the ratios. How to run them "
        "and the results files' schema: `bench/README.md` in the repository.",
        "",
    ]
    for bench, spec in BENCHES.items():
        mine = [d for d in documents if d["bench"] == bench]
        if not mine:
            continue
        out += [f"## {spec['title']}", "", spec["about"], "", f"`{spec['command']}`", ""]
        for document in sorted(mine, key=lambda d: list(VENDOR_TITLES).index(d["vendor"])):
            out += section(document, page, img, charts)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    args.page.write_text(render(args.results.resolve(), args.page.resolve()))
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
