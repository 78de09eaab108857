"""The `lineage` tool accepts `source:NAME` (as its docs say) over a real `goldfish serve`."""

from __future__ import annotations

from pathlib import Path

import anyio
from goldfish.runs.engine import Engine
from mcp_support import data, new_project, stdio_client, text, write_files


def test_lineage_of_sources_through_the_mcp_client(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    write_files(project.slot_path("w1"))
    run_id = Engine(project).run("exp", reason="baseline", wait=True)
    (project.root / "labels.json").write_text('{"y": [0, 1]}')

    async def go() -> None:
        async with stdio_client(project) as c:
            data(await c.call_tool("promote_output", {"output": f"{run_id}/train.model",
                                                      "name": "model_v1"}))
            data(await c.call_tool("register_source", {"name": "labels",
                                                       "path": "labels.json"}))
            up = await c.call_tool("lineage", {"ref": "source:model_v1"})
            edges = data(up)["edges"]
            assert edges[0]["from"] == f"{run_id}/train.model"
            assert edges[0]["to"] == "source:model_v1"
            # and on up through the stage that made it
            assert (f"{run_id}/prepare.data", f"{run_id}/train.data") in {
                (e["from"], e["to"]) for e in edges}
            assert f"{run_id}/train.model -> source:model_v1" in text(up)
            plain = await c.call_tool("lineage", {"ref": "source:labels"})
            assert data(plain)["edges"] == []
            assert "source labels was registered from labels.json: nothing upstream" in text(plain)
            down = await c.call_tool("lineage", {"ref": "source:labels", "direction": "down"})
            assert text(down) == "no stage has read source labels yet"
            typo = await c.call_tool("lineage", {"ref": "source:lables"})
            assert typo.is_error and "unknown source 'lables'" in text(typo)
            assert "did you mean 'labels'" in text(typo)

    anyio.run(go)
