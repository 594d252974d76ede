"""Where a storm request's time goes: py-spy on the storm's uvicorn, under load (issue 18).

    python -m bench.profile [--vendor postgresql,mysql] [--configs ours-transaction,ceiling]
                            [--views b] [--clients 200] [--seconds 10] [--quick]

For each vendor, configuration and view: the storm site (bench/storm) under
``--clients`` clients; after a warm-up, ``py-spy record --gil`` samples the
thread holding the GIL 200 times a second for ``--seconds`` while the load
runs. Each sample goes to the innermost frame's owner (django-multipool,
the driver, Django's backend and cursor wrapper, Django's ORM, the rest of
Django, asgiref, the thread pool and locks, uvicorn and the event loop, the
view), and each owner's samples become milliseconds of GIL time per request.
Beside them the uvicorn process's CPU time per request (user + system, from
/proc): what exceeds the GIL time was spent with the GIL released, in C
code, the kernel and hand-offs between threads (which no Python profiler
sees). The database server's own time is outside this process; so is the
load generator's.

Needs py-spy (the bench group has it) and the right to trace the process
(root, or ptrace allowed). Writes bench/results/profile-<vendor>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import _bootstrap as bench
from bench.storm import db
from bench.storm.__main__ import VIEWS
from bench.storm.server import StormServer
from demo.load import run_load

RATE = 200
#: Owners of a sample, by its innermost frame's file; the first pattern that matches wins.
OWNERS = [
    ("ours", r"django_multipool/"),
    ("driver", r"MySQLdb/|psycopg/|psycopg_pool/|mysql/connector/"),
    ("Django backend, cursor wrapper", r"django/db/backends/|django/db/utils\.py"),
    ("Django ORM", r"django/db/models/"),
    ("Django, the rest", r"django/|rest_framework/"),
    ("asgiref", r"asgiref/"),
    ("threads, locks", r"concurrent/futures/|threading\.py|queue\.py"),
    ("uvicorn, event loop", r"uvicorn/|asyncio/|uvloop/|httptools/|h11/"),
    ("view", r"storm_site/"),
]
OTHER = "other"
#: py-spy's frame: "function (path:line)", the path shortened to its package's.
_FILE = re.compile(r"\(([^()]*?)(?::\d+)?\)$")


def owner(stack: str) -> str:
    """The owner of a folded stack's sample: the innermost frame whose file matches."""
    for frame in reversed(stack.split(";")):
        match = _FILE.search(frame)
        path = match.group(1) if match else frame
        for name, pattern in OWNERS:
            if re.search(rf"(^|/)(?:{pattern})", path):
                return name
    return OTHER


def owners(raw: str) -> Counter[str]:
    """py-spy's raw (folded) output, summed by owner."""
    found: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            found[owner(stack)] += int(count)
    return found


def process_cpu(pid: int) -> float:
    """User + system seconds of a process, all its threads (ended ones included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_one(
    server: Any, config: db.Configuration, view: str, args: argparse.Namespace, spy: str
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "contender": config.label,
        "case": f"({view})",
        "clients": args.clients,
        "metrics": {},
    }
    if server.vendor.name not in config.vendors:
        row["note"] = "PostgreSQL only"
        return row

    def load(seconds: float) -> Any:
        return asyncio.run(
            run_load(
                site.url,
                [VIEWS[view]],
                clients=args.clients,
                duration=seconds,
                max_requests=10**7,
                check_answers=False,
            )
        )

    db.wait_for_no_sessions(server)
    with StormServer(config.database(server, None)) as site, tempfile.TemporaryDirectory() as tmp:
        assert site.process is not None
        pid = site.process.pid
        load(args.warmup)
        out = Path(tmp) / "raw.txt"
        command = [spy, "record", "--gil", "--nonblocking", "--format", "raw"]
        command += ["-r", str(RATE), "-d", str(args.seconds), "-p", str(pid), "-o", str(out)]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)  # attached before the measured load starts
        cpu_before = process_cpu(pid)
        measured = load(args.seconds - 0.5)
        cpu = process_cpu(pid) - cpu_before
        _, err = sampler.communicate(timeout=args.seconds + 30)
        if sampler.returncode != 0 or not out.exists():
            row["note"] = f"py-spy failed: {err.decode(errors='replace').strip()[-200:]}"
            return row
        counts = owners(out.read_text())
    requests = measured.ok
    if not requests:
        row["note"] = "no request succeeded"
        return row
    per_request = {name: 1000 * n / RATE / requests for name, n in counts.items()}
    gil = sum(per_request.values())
    metrics: dict[str, Any] = {"req_per_s": round(requests / measured.elapsed, 1)}
    for name in [*(n for n, _ in OWNERS), OTHER]:
        metrics[name] = round(per_request.get(name, 0.0), 3)
    metrics["GIL held, all"] = round(gil, 3)
    metrics["process CPU"] = round(1000 * cpu / requests, 3)
    metrics["CPU with the GIL released"] = round(max(0.0, 1000 * cpu / requests - gil), 3)
    row["metrics"] = metrics
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench.add_common_arguments(parser)
    parser.add_argument("--configs", default="ours-transaction,ceiling")
    parser.add_argument("--views", default="b")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10, help="sampled seconds (10)")
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = 3, 1.0
    args.configs, args.views = args.configs.split(","), args.views.split(",")
    if unknown := (set(args.configs) - set(db.BY_KEY)) | (set(args.views) - set(VIEWS)):
        parser.error(f"unknown configuration or view: {', '.join(sorted(unknown))}")
    if not 1 <= args.clients <= 500 or not 1 <= args.seconds <= 60:
        parser.error("keep it bounded: 1-500 clients, 1-60 sampled seconds")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        parser.error("needs py-spy: pip install py-spy (the bench dependency group has it)")
    found = bench.servers(bench.vendors(parser, args.vendor))
    for vendor, server in found.items():
        db.setup(server)
        config = {k: getattr(args, k) for k in ("configs", "views", "clients", "seconds")}
        recorder = bench.Recorder("profile", server, {**config, "rate_hz": RATE}, args.quick)
        for key in args.configs:
            for view in args.views:
                row = profile_one(server, db.BY_KEY[key], view, args, spy)
                recorder.rows.append(row)
                m = row["metrics"]
                shown = ", ".join(f"{k} {v}" for k, v in m.items()) or row.get("note")
                print(f"  {vendor:<10} {db.BY_KEY[key].label} ({view}): {shown}", flush=True)
        print(f"\n{vendor}: ms per request, {args.clients} clients\n")
        print("\n".join(table(recorder.rows)))
        recorder.write(not args.no_json)
    return 0 if found else 2


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Owners down, configurations across: the rows side by side."""
    measured = [r for r in rows if r["metrics"]]
    if not measured:
        return ["(nothing measured)"]
    header = ["ms per request", *(f"{r['contender']} {r['case']}" for r in measured)]
    lines = [header, ["---"] * len(header)]
    for key in measured[0]["metrics"]:
        lines.append([key, *(f"{r['metrics'][key]:,.3f}" for r in measured)])
    return ["| " + " | ".join(line) + " |" for line in lines]


if __name__ == "__main__":
    raise SystemExit(main())
