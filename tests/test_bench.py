"""bench/ keeps working: its entry points run on the real servers, and the results page is current.

The benches measure and assert nothing; these tests check that they run
(quick mode, no results written) and that docs/benchmarks.md is what
``python -m bench.render`` makes of the committed bench/results/*.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import render
from bench._bootstrap import RESULTS, VENDOR_NAMES

from .servers import Server

REPO = Path(__file__).parent.parent


def test_the_results_page_is_rendered_from_the_committed_results(tmp_path: Path) -> None:
    page = REPO / "docs" / "benchmarks.md"
    # Rendered beside a page of the same name, so image links compare equal.
    fresh = render.render(RESULTS, tmp_path / "docs" / page.name, charts=False)
    assert fresh == page.read_text(), "docs/benchmarks.md is stale: run python -m bench.render"
    for path in sorted(RESULTS.glob("*.json")):
        assert f"`bench/results/{path.name}`" in fresh
    for image in {line.split("](")[1].rstrip(")") for line in fresh.splitlines() if "![" in line}:
        assert (page.parent / image).is_file(), image


@pytest.mark.vendor
@pytest.mark.parametrize(
    ("entry_point", "unit"),
    [
        ("bench.checkout", "µs"),
        ("bench.release_cost", "µs"),
        ("bench.growth", "server sessions"),
        ("bench.profile", "ms per request"),
    ],
)
def test_a_quick_run_of_the_entry_point_works(
    vendor: str, server: Server, entry_point: str, unit: str
) -> None:
    if vendor not in VENDOR_NAMES:
        pytest.skip(f"bench/ measures {', '.join(VENDOR_NAMES)}, not {vendor}")
    env = {
        **os.environ,
        server.vendor.dsn_env: server.dsn(),
        "MULTIPOOL_REQUIRE": vendor,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", entry_point, "--vendor", vendor, "--quick", "--no-json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"\n{vendor}: " in done.stdout
    assert unit in done.stdout
