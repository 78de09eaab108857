"""Property: whatever an agent sends — valid, half-valid or garbage — every call is answered
(a result or a tool error with text), no call is an internal error, and the project stays intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from goldfish_mcp.server import build_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp_support import integrity, new_project, text

NAMES = st.sampled_from(["exp", "fork", "w1", "w2", "latest", "@best", "exp@best", "exp-v1",
                         "r-20990101-abcdef", "", "../x", "source:raw", "nosuch", "exp-v99"])
GARBAGE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True), st.text(max_size=30), NAMES,
                    st.lists(st.text(max_size=5), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
VALUE = st.one_of(NAMES, NAMES, GARBAGE)

TOOLS: dict[str, list[str]] = {
    "status": ["peek"], "note": ["text", "kind", "run", "workspace"],
    "recall": ["query", "kinds", "workspace", "since_hours", "limit"],
    "create_workspace": ["name", "goal", "from_workspace", "from_version", "mount", "slot"],
    "mount": ["workspace", "slot"], "unmount": ["slot"], "save_version": ["workspace", "message"],
    "rollback": ["workspace", "version"], "diff": ["a", "b"], "workspaces": [],
    "run": ["workspace", "reason", "overrides", "dry_run"], "inspect_run": ["run", "history"],
    "logs": ["run", "tail", "cursor"], "cancel": ["run"],
    "runs": ["workspace", "state", "tag", "sort", "limit", "cursor"], "compare": ["a", "b"],
    "conclude": ["run", "outcome", "notes", "metric"], "tag": ["target", "name", "kind", "note"],
    "plot_metrics": ["runs", "metrics"], "register_source": ["name", "path", "type"],
    "sources": ["limit", "cursor"], "promote_output": ["output", "name"],
    "lineage": ["ref", "direction"], "findings": ["run", "severity", "unseen", "limit"],
    "patterns": ["action", "id", "status", "prevention"], "profiles": [],
}
SPECIAL: dict[str, Any] = {
    "kind": st.sampled_from(["note", "decision", "question", "run", "version", "bogus"]),
    "outcome": st.sampled_from(["success", "partial", "miss", "win"]),
    "action": st.sampled_from(["list", "approve", "reject", "explode"]),
    "state": st.sampled_from(["done", "active", "failed", "nope"]),
    "direction": st.sampled_from(["up", "down", "sideways"]),
    "mount": st.booleans(), "dry_run": st.just(True), "peek": st.booleans(),
    "overrides": st.lists(st.sampled_from(["train.lr=0.5", "train.epochs=2", "x", "train.zz=1"]),
                          max_size=2),
    "runs": st.lists(NAMES, max_size=3), "kinds": st.lists(st.sampled_from(
        ["note", "run", "decision", "bad"]), max_size=2),
    "path": st.sampled_from(["workspaces/w1/pipeline.yaml", "workspaces/w1", "/etc/passwd",
                             "../../x", "missing.csv"]),
    "limit": st.one_of(st.integers(-5, 200), st.just(5)),
}


@st.composite
def calls(draw: Any) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(TOOLS)))
    args = {}
    for arg in TOOLS[name]:
        if draw(st.booleans()):
            args[arg] = draw(SPECIAL.get(arg, VALUE))
    return name, args


WORD = st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True)
PLAUSIBLE: dict[str, Any] = {
    "status": st.fixed_dictionaries({}, optional={"peek": st.booleans()}),
    "note": st.fixed_dictionaries({"text": st.text(min_size=1, max_size=60).filter(str.strip)},
                                  optional={"kind": st.sampled_from(["note", "decision"])}),
    "recall": st.fixed_dictionaries({"query": st.text(max_size=20)}),
    "create_workspace": st.fixed_dictionaries({"name": WORD, "mount": st.booleans()}),
    "mount": st.fixed_dictionaries({"workspace": st.sampled_from(["exp", "fork"])}),
    "unmount": st.fixed_dictionaries({"slot": st.sampled_from(["w1", "w2", "exp"])}),
    "save_version": st.fixed_dictionaries({"workspace": st.sampled_from(["exp", "w1"]),
                                           "message": st.text(max_size=20)}),
    "rollback": st.fixed_dictionaries({"workspace": st.just("exp"),
                                       "version": st.sampled_from(["1", "v2", "exp-v1"])}),
    "diff": st.fixed_dictionaries({"a": st.sampled_from(["exp", "exp-v1"])}),
    "run": st.fixed_dictionaries({"workspace": st.just("exp"), "dry_run": st.just(True),
                                  "overrides": st.lists(st.sampled_from(
                                      ["train.lr=0.3", "train.epochs=2"]), max_size=2)}),
    "runs": st.fixed_dictionaries({}, optional={"limit": st.integers(1, 5),
                                                "sort": st.just("accuracy:desc")}),
    "tag": st.fixed_dictionaries({"target": st.just("exp-v1"), "name": WORD,
                                  "kind": st.just("version")}),
    "register_source": st.fixed_dictionaries({"name": WORD, "path": st.just(
        "workspaces/w1/pipeline.yaml"), "replace": st.just(True)}),
    "findings": st.fixed_dictionaries({}, optional={"unseen": st.booleans()}),
    "workspaces": st.just({}), "sources": st.just({}), "profiles": st.just({}),
    "patterns": st.just({"action": "list"}),
}


def test_mcp_random_calls_never_crash_or_corrupt(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    server = build_server(project)
    answered: list[str] = []
    succeeded: list[str] = []

    plausible = st.sampled_from(sorted(PLAUSIBLE)).flatmap(
        lambda name: PLAUSIBLE[name].map(lambda args: (name, args)))

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(st.one_of(calls(), plausible), min_size=3, max_size=8))
    def check(batch: list[tuple[str, dict[str, Any]]]) -> None:
        async def go() -> None:
            async with Client(server) as c:
                for name, args in batch:
                    result = await c.call_tool(name, args)
                    body = text(result)
                    assert "failed unexpectedly" not in body, (name, args, body)
                    assert "Traceback" not in body
                    if result.is_error:
                        assert body.strip(), (name, args)
                    else:
                        succeeded.append(name)
                    answered.append(name)

        anyio.run(go)
        integrity(project)

    check()
    assert len(answered) >= 200
    assert len(set(answered)) >= 20
    assert len(set(succeeded)) >= 12  # the random calls reach the services, not only validation
