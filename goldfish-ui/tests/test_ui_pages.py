"""The dashboard over real HTTP (uvicorn in a thread) on the demo project: what each page says,
that it only reads, that nothing it serves points off the machine, that secrets and markup from
the project never come through."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from goldfish.project import Project
from goldfish.runs.records import get_run, list_runs
from ui_support import HOSTILE, SECRET, project_state

Demo = tuple[Project, dict[str, str]]


def get(url: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, method=method, data=b"x=1" if method in (
        "POST", "PUT", "PATCH") else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode("utf-8"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), dict(e.headers)


def every_page(demo: Demo) -> list[str]:
    _, runs = demo
    ids = list(runs.values())
    return ["/", "/runs", "/runs?sort=accuracy:desc", "/runs?state=failed", "/runs?page=2",
            *(f"/runs/{r}" for r in ids), f"/compare?runs={ids[0]},{ids[1]},{ids[2]}",
            "/compare", "/workspaces", "/workspaces/digits", "/workspaces/broken",
            "/diff?a=digits-v1&b=digits-v2", "/state", "/patterns",
            *(f"/api/runs/{r}" for r in ids), "/api/active"]


def test_overview_shows_what_status_shows(served: str, demo: Demo) -> None:
    _, runs = demo
    status, html, _ = get(served + "/")
    assert status == 200
    assert "classify 8x8 digit-like glyphs" in html  # the goal
    best = re.search(r'<section class="best">.*?</section>', html, re.S)
    assert best and "digits" in best.group(0) and "accuracy" in best.group(0)
    blocking = re.search(r"New blocking findings</h2>(.*?)</section>", html, re.S)
    assert blocking and runs["broken"] in blocking.group(1) and "blocking" in blocking.group(1)
    waiting = re.search(r"Awaiting conclusion.*?</section>", html, re.S)
    assert waiting and runs["broken"] in waiting.group(0)
    assert "stopped by a blocking finding: metric &#39;loss&#39; is nan" in waiting.group(0)


def test_runs_table_filters_sorts_and_pages_with_the_core_query(served: str, demo: Demo) -> None:
    project, runs = demo
    _, html, _ = get(served + "/runs?sort=accuracy:asc")
    shown = re.findall(r'class="run" href="/runs/(r-[^"]+)"', html)
    expected = [r.id for r in list_runs(project, sort="accuracy:asc", limit=50)]
    assert shown == expected and len(shown) >= 3
    assert re.search(r'<a class="sort" href="[^"]*sort=accuracy%3Adesc"[^>]*>accuracy ▲</a>', html)
    values = [get_run(project, r).metric("accuracy") for r in shown[:2]]
    assert None not in values and values == sorted(v for v in values if v is not None)
    _, failed, _ = get(served + "/runs?state=failed")
    assert re.findall(r'class="run" href="/runs/(r-[^"]+)"', failed) == [runs["broken"]]
    status, bad, _ = get(served + "/runs?sort=accuracy:sideways")
    assert status == 400 and "is not METRIC[:asc|desc]" in bad
    status, _, _ = get(served + "/runs?page=0")
    assert status == 400


def test_run_page_has_stages_reason_findings_log_and_lineage(served: str, demo: Demo) -> None:
    _, runs = demo
    _, html, _ = get(served + f"/runs/{runs['tuned']}")
    for stage in ("prepare", "train", "evaluate"):
        assert f'data-stage="{stage}"' in html
    assert "a smaller step converges more smoothly" in html  # hypothesis
    assert "lower learning rate" in html  # reason
    tuned = runs["tuned"]
    assert f"{tuned}/prepare.train → {tuned}/train.train" in html  # lineage, upstream
    assert f"{tuned}/train.model → {tuned}/evaluate.model" in html
    data = re.search(r'class="plot-data">(.*?)</script>', html, re.S)
    assert data is not None
    plot = json.loads(data.group(1))
    assert any(p["metric"] == "train.loss" for p in plot["panels"])
    _, broken, _ = get(served + f"/runs/{runs['broken']}")
    assert "nonfinite_metric" in broken and "is nan at step 1" in broken


def test_compare_diffs_config_and_code_of_the_runs(served: str, demo: Demo) -> None:
    _, runs = demo
    _, html, _ = get(served + f"/compare?runs={runs['baseline']}&runs={runs['tuned']}")
    assert "train.lr" in html and "digits-v1 → digits-v2" in html
    assert '<span class="add">+lr: 0.2</span>' in html  # the code diff, line by line
    assert html.count('class="comparison"') == 1


def test_a_version_diff(served: str) -> None:
    status, html, _ = get(served + "/diff?a=digits-v1&b=digits-v2")
    assert status == 200 and "+lr: 0.2" in html and "1 file changed" in html
    status, html, _ = get(served + "/diff?a=digits-v1&b=digits-v9")
    assert status == 404 and "has no version v9" in html


def test_state_md_is_rendered_and_its_markup_escaped(served: str, demo: Demo) -> None:
    project, _ = demo
    text = project.state_path.read_text(encoding="utf-8")
    assert HOSTILE in text  # the hostile reason reached STATE.md
    _, html, _ = get(served + "/state")
    assert "<h1>" in html or "<h2>" in html  # markdown became HTML
    assert "<script>window.__pwned" not in html and "&lt;script&gt;" in html


def test_nothing_from_the_project_is_rendered_as_markup(served: str, demo: Demo) -> None:
    for page in every_page(demo):
        _, body, _ = get(served + page)
        assert "<script>window.__pwned" not in body, page
        assert "<b>bold</b>" not in body, page


def test_no_secret_is_rendered(served: str, demo: Demo) -> None:
    project, runs = demo
    assert get_run(project, runs["broken"]).stages[0].profile == "secretive"
    for page in every_page(demo):
        status, body, _ = get(served + page)
        assert status == 200, (page, status)
        assert SECRET not in body, page


def _urls(text: str) -> list[str]:
    found = re.findall(r'(?:src|href|action)\s*=\s*["\']([^"\']*)', text)
    found += re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
    found += re.findall(r"https?://[^\s\"'<>)]+", text)
    return found


def test_no_page_or_asset_points_off_the_machine(served: str, demo: Demo) -> None:
    assets = ["/static/plot.js", "/static/live.js", "/static/style.css", "/static/favicon.svg"]
    for page in every_page(demo) + assets:
        status, body, _ = get(served + page)
        assert status == 200, page
        for url in _urls(body):
            if url == "http://www.w3.org/2000/svg":  # an XML namespace name, never fetched
                continue
            assert url.startswith(("/", "?", "#")) and not url.startswith("//"), (page, url)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_refused_and_the_project_does_not_change(served: str, demo: Demo,
                                                           method: str) -> None:
    project, _ = demo
    before = project_state(project)
    for page in [*every_page(demo), "/static/plot.js", "/no/such/page"]:
        status, body, headers = get(served + page, method)
        assert status == 405, (method, page)
        assert "read-only" in body and headers.get("allow") == "GET, HEAD"
    for page in every_page(demo):  # reading every page changes nothing either
        get(served + page)
    assert project_state(project) == before


def test_looking_does_not_consume_the_agents_new_findings(served: str, demo: Demo) -> None:
    from goldfish.orientation import orient

    project, runs = demo
    for _ in range(2):
        get(served + "/")
    o = orient(project, mark_seen=False)
    assert any(f["run"] == runs["broken"] for f in o.findings)


def test_unknown_things_get_a_page_that_says_what_and_what_to_do(served: str) -> None:
    status, html, _ = get(served + "/runs/r-nope")
    assert status == 404 and "no run" in html and "goldfish runs" in html
    status, html, _ = get(served + "/nowhere")
    assert status == 404 and "no page" in html
    status, body, _ = get(served + "/api/runs/r-nope")
    assert status == 404 and json.loads(body)["error"].startswith("no run")


def test_live_endpoint_of_a_finished_run(served: str, demo: Demo) -> None:
    _, runs = demo
    status, body, _ = get(served + f"/api/runs/{runs['tuned']}")
    data: dict[str, Any] = json.loads(body)
    assert status == 200 and data["state"] == "done" and not data["active"]
    assert [s["stage"] for s in data["stages"]] == ["prepare", "train", "evaluate"]
    assert all(s["duration"] is None or s["duration"] >= 0 for s in data["stages"])
    loss = next(p for p in data["plot"]["panels"] if p["metric"] == "train.loss")
    assert len(loss["series"][0]["points"]) == 40  # one per epoch, [step, value, time]


def test_failure_patterns_page_lists_them_by_status(served: str, demo: Demo) -> None:
    from goldfish import patterns

    project, runs = demo
    pending = patterns.list_patterns(project, "pending")
    assert pending and pending[0].first_run == runs["broken"]
    _, html, _ = get(served + "/patterns?status=pending")
    assert pending[0].id in html and "diverged at step" in html
    assert f'href="/runs/{runs["broken"]}"' in html
    _, approved, _ = get(served + "/patterns?status=approved")
    assert pending[0].id not in approved and "no failure patterns approved" in approved
    status, bad, _ = get(served + "/patterns?status=maybe")
    assert status == 400 and "unknown pattern status" in bad


def test_workspaces_and_their_version_history(served: str) -> None:
    _, html, _ = get(served + "/workspaces")
    for name in ("digits", "broken", "slow"):
        assert f'href="/workspaces/{name}"' in html
    _, history, _ = get(served + "/workspaces/digits")
    assert history.index("<td>digits-v2</td>") < history.index("<td>digits-v1</td>")  # newest first
    assert 'name="a" value="digits-v1" checked' in history  # the diff form picks the last two
    assert 'name="b" value="digits-v2" checked' in history


def test_the_browser_is_told_to_load_nothing_from_elsewhere(served: str) -> None:
    for page in ("/", "/static/plot.js", "/api/active", "/nowhere"):
        _, _, headers = get(served + page)
        policy = headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, page
        assert headers.get("x-content-type-options") == "nosniff"


def test_a_page_under_another_host_name_is_refused(served: str) -> None:
    """A web page on another site that rebinds its DNS name to 127.0.0.1 cannot read the
    project through the user's browser: the Host header names that site."""
    port = served.rsplit(":", 1)[1]
    request = urllib.request.Request(served + "/", headers={"Host": f"evil.example:{port}"})
    try:
        urllib.request.urlopen(request, timeout=20)
        raise AssertionError("served to another host name")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and "goldfish-demo" not in e.read().decode()
    request = urllib.request.Request(served + "/", headers={"Host": f"localhost:{port}"})
    with urllib.request.urlopen(request, timeout=20) as r:
        assert r.status == 200


def test_runs_table_pages(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish_ui import pages
    from goldfish_ui.app import create_app
    from starlette.testclient import TestClient

    project, _ = demo
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    client = TestClient(create_app(Project(project.root)))
    newest = [r.id for r in list_runs(project, limit=100)]
    first = client.get("/runs").text
    assert re.findall(r'class="run" href="/runs/(r-[^"]+)"', first) == newest[:2]
    assert 'class="next" href="/runs?workspace=&amp;state=&amp;tag=&amp;sort=&amp;page=2"' in first
    assert 'class="prev"' not in first
    second = client.get("/runs?page=2").text
    assert re.findall(r'class="run" href="/runs/(r-[^"]+)"', second) == newest[2:4]
    assert 'class="prev"' in second


def test_each_kind_of_error_gets_its_status() -> None:
    from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
    from goldfish_ui.app import _status

    assert [_status(e("x")) for e in (NotFoundError, InvalidInputError, ConflictError,
                                      GoldfishError)] == [404, 400, 409, 500]


def test_an_internal_error_gets_a_page_that_says_so(demo: Demo,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish_ui import app, pages
    from starlette.testclient import TestClient

    def broken(project: Project) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(pages, "state_page", broken)
    client = TestClient(app.create_app(Project(demo[0].root)), raise_server_exceptions=False)
    response = client.get("/state")
    assert response.status_code == 500
    assert "internal error: RuntimeError: boom" in response.text
    assert "this is a bug in goldfish-ui" in response.text
