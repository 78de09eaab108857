"""End to end: the official MCP client drives a real `goldfish serve` over stdio, then a new
session — as after a context loss — finds the goal, the best run, the last decision and what to do
next."""

from __future__ import annotations

from pathlib import Path

import anyio
from goldfish.project import Project
from mcp_support import GOAL, data, new_project, stdio_client, text, write_files


def test_mcp_whole_workflow_then_orientation_after_context_loss(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    seen: dict[str, object] = {}

    async def first_session() -> None:
        async with stdio_client(project) as c:
            assert "status" in (c.instructions or "")
            start = data(await c.call_tool("status", {}))
            assert start["goal"] == GOAL and start["runs_total"] == 0
            assert any("create_workspace" in n for n in start["next"])

            created = data(await c.call_tool("create_workspace", {
                "name": "exp", "goal": "tune lr", "mount": False}))
            assert created["slot"] is None
            mounted = data(await c.call_tool("mount", {"workspace": "exp"}))
            slot = Path(str(mounted["path"]))
            assert slot == project.slot_path(str(mounted["slot"]))
            write_files(slot)  # the agent writes stage code into the slot

            first = data(await c.call_tool("run", {
                "workspace": "exp", "reason": "baseline with a small learning rate",
                "hypothesis": "lr 0.1 underfits; accuracy near 0.55", "wait": True,
                "wait_seconds": 120}))
            assert first["state"] == "done", first
            assert first["reason"]["hypothesis"].startswith("lr 0.1")
            second = data(await c.call_tool("run", {
                "workspace": "exp", "reason": "raise the learning rate",
                "hypothesis": "lr 0.8 reaches 0.9", "overrides": ["train.lr=0.8"],
                "wait": True}))
            assert second["state"] == "done", second
            stages = {s["stage"]: s for s in second["stages"]}
            assert stages["prepare"]["state"] == "reused"

            inspected = data(await c.call_tool("inspect_run", {"run": second["id"]}))
            assert inspected["result"] == {"metric": "accuracy", "value": 0.9}
            assert inspected["stages"][1]["metrics"]["loss"]["count"] == 5
            log = data(await c.call_tool("logs", {"run": f"{second['id']}/train"}))
            assert "trained with lr 0.8" in log["text"]

            cmp = data(await c.call_tool("compare", {"a": first["id"], "b": second["id"]}))
            assert {"stage": "train", "key": "lr", "a": 0.1, "b": 0.8} in cmp["config"]
            delta = next(m for m in cmp["metrics"] if m["name"] == "accuracy")
            assert abs(delta["delta"] - 0.35) < 1e-9

            plot = await c.call_tool("plot_metrics", {"runs": [first["id"], second["id"]],
                                                      "metrics": ["loss"]})
            assert not plot.is_error and plot.content[0].type == "image"

            concluded = data(await c.call_tool("conclude", {
                "run": second["id"], "outcome": "success",
                "notes": "lr 0.8 reaches accuracy 0.9; small lr underfits"}))
            assert concluded["value"] == 0.9
            data(await c.call_tool("note", {
                "text": "keep lr 0.8 as the default; next try more epochs",
                "kind": "decision", "run": second["id"]}))
            seen["best"] = second["id"]
            seen["first"] = first["id"]

    async def after_context_loss() -> None:
        async with stdio_client(project) as c:  # a new process, a new session
            result = await c.call_tool("status", {})
            status = data(result)
            assert status["goal"] == GOAL
            assert status["invariants"] == ["evaluate on the frozen split"]
            best = status["best"][0]
            assert (best["run"], best["metric"], best["value"]) == (seen["best"], "accuracy", 0.9)
            assert status["decisions"][0]["text"].startswith("keep lr 0.8")
            assert status["unconcluded_count"] == 1  # the baseline still awaits its verdict
            assert any(f"conclude {seen['first']}" in n for n in status["next"])
            rendered = text(result)
            assert GOAL in rendered and str(seen["best"]) in rendered and "decision:" in rendered

            hits = data(await c.call_tool("recall", {"query": "learning rate"}))["hits"]
            assert {h["id"] for h in hits} >= {seen["first"], seen["best"]}
            decided = data(await c.call_tool("recall", {"query": "default lr",
                                                        "kinds": ["decision"]}))["hits"]
            assert decided and decided[0]["text"].startswith("keep lr 0.8")
            concl = data(await c.call_tool("recall", {"query": "underfits",
                                                      "kinds": ["conclusion"]}))["hits"]
            assert concl[0]["id"] == seen["best"]
            state = await c.read_resource("goldfish://state")
            body = state.contents[0].text  # type: ignore[union-attr]
            assert "keep lr 0.8" in body and str(seen["best"]) in body

    anyio.run(first_session)
    anyio.run(after_context_loss)
    state_md = project.state_path.read_text(encoding="utf-8")
    assert "## Decisions" in state_md and "keep lr 0.8" in state_md and GOAL in state_md
    assert "accuracy = 0.9" in state_md
    assert Project(project.root).db.one("PRAGMA integrity_check")[0] == "ok"  # type: ignore[index]
