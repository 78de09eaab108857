"""Benchmark: the dashboard's runs table, first page, with 10,000 recorded runs.

Run: ``.venv/bin/python tests/benchmarks/ui_runs_table.py [--runs 10000]``

The project database is seeded as ``runs_sort.py`` seeds it (the rows the engine records: runs,
stage runs, metric summaries, tags, conclusions). Server time is measured in-process through
Starlette's TestClient (routing, the read-only guard, the core query, the template), median of
seven after one warm-up, for the default page (newest first) and a page sorted by a metric.
Baseline in the same run: the same query through ``goldfish runs``' core function
(``records.list_runs``, what the page calls), so the ratio is the page's own overhead.
Goal: under 200 ms for the first page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from goldfish.runs.records import list_runs
from goldfish.testing.projects import make_project
from goldfish_ui.app import create_app
from goldfish_ui.pages import PAGE_SIZE
from runs_sort import FILES, seed, timed
from starlette.testclient import TestClient

GOAL = 0.200


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmpdir:
        project = make_project(Path(tmpdir) / "p", FILES)
        seed(project, args.runs)
        client = TestClient(create_app(project))
        print(f"runs table, first page of {PAGE_SIZE}, {args.runs:,} runs, in-process")
        for label, query, sort in (("newest first", "", None),
                                   ("sorted by accuracy", "?sort=accuracy:desc",
                                    "accuracy:desc")):
            response = client.get("/runs" + query)
            assert response.status_code == 200, response.text[:500]
            assert response.text.count('class="run" href=') == PAGE_SIZE
            page = timed(lambda q=query: client.get("/runs" + q), 7)
            base = timed(lambda s=sort: list_runs(project, sort=s, limit=PAGE_SIZE + 1), 7)
            ok &= page <= GOAL
            print(f"  {label:<20} page {page * 1000:6.1f} ms; `goldfish runs` core query "
                  f"{base * 1000:6.1f} ms; ratio {page / base:.2g}; goal "
                  f"{GOAL * 1000:.0f} ms: {'OK' if page <= GOAL else 'OVER'}")
        project.db.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
