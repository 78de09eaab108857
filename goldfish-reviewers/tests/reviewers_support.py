"""Projects, pipelines and verdicts for the reviewer tests (real projects, real engine runs)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import goldfish_reviewers.plugin as reviewers_plugin
import pytest
import yaml
from goldfish.project import Project
from goldfish.testing.projects import CHAIN as BASE_CHAIN
from goldfish.testing.projects import WORKSPACE, write_files

#: the shared chain, with a contract on prepare's output for the reviewer to see.
CHAIN = {**BASE_CHAIN, "pipeline.yaml": BASE_CHAIN["pipeline.yaml"].replace(
    "outputs: {data: {type: json}}",
    "outputs: {data: {type: json, contract: {required_keys: [xs]}}}")}
assert CHAIN["pipeline.yaml"] != BASE_CHAIN["pipeline.yaml"]

KEY_ENV = "GF_TEST_REVIEW_KEY"
KEY = "local-dummy-review-key"


@pytest.fixture(autouse=True)
def api_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported by each test module: the key the ``review:`` sections name is set."""
    monkeypatch.setenv(KEY_ENV, KEY)


def local_review(api_base: str, **extra: Any) -> dict[str, Any]:
    """A ``review:`` section pointing at the local test server."""
    return {"model": "openai/reviewer-test", "api_base": api_base, "api_key_env": KEY_ENV,
            "timeout_seconds": 20, **extra}


def set_review(project: Project, review: dict[str, Any] | None) -> None:
    """Rewrite the ``review:`` section of goldfish.yaml and reload the config."""
    data = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    data.pop("review", None)
    if review is not None:
        data["review"] = review
    project.config_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    project.reload_config()


def make_project(tmp_path: Path, plugins: Any, register: Any,
                 review: dict[str, Any] | None = None,
                 files: dict[str, str] | None = None) -> Project:
    """A project with the reviewers plugin, workspace ``exp`` in slot w1 holding ``files``."""
    from goldfish.init import init_project

    register(reviewers_plugin, name="reviewers")
    src = tmp_path / "src"
    write_files(src, files or CHAIN)
    project = init_project(tmp_path / "project", name="test-reviews", from_dir=src,
                           workspace=WORKSPACE, plugins=plugins)
    set_review(project, review)
    return project


def edit(project: Project, rel: str, text: str) -> None:
    write_files(project.slot_path("w1"), {rel: text})


def approve(summary: str = "looks right", findings: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"decision": "approve", "summary": summary, "findings": findings or []})


def block(*findings: dict[str, Any], summary: str = "will not work") -> str:
    return json.dumps({"decision": "block", "summary": summary, "findings": list(findings)})


def outcome(proposed: str = "success", concerns: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"proposed_outcome": proposed, "summary": "results match the hypothesis",
                       "hypothesis_supported": proposed == "success",
                       "concerns": concerns or []})


def cli(project: Project, *args: str) -> tuple[int, str]:
    from goldfish.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--project", str(project.root), *args])
    return code, out.getvalue() + err.getvalue()


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m["content"]) for m in request["messages"] if m["role"] == "user")


def system_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m["content"]) for m in request["messages"] if m["role"] == "system")
