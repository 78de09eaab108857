"""What `goldfish serve` does before the handshake: goldfish.yaml comes from its validation record
(no config models built; the 0.28 s that goldfish.config cost), nothing else of Goldfish's that
is heavy. The time itself is measured by tests/benchmarks/mcp_startup.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mcp_support import new_project, server_env

PROBE = """\
import sys
from goldfish_mcp.server import build_server, open_project
project = open_project(sys.argv[1])
build_server(project)
print(sorted(m for m in ("goldfish.config", "goldfish.pipeline", "goldfish.builtins.local_compute",
                         "goldfish_mcp.tools", "yaml") if m in sys.modules))
"""


def test_serve_builds_its_server_without_validating_a_recorded_config(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(project.root)], env=server_env(),
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr
    assert "goldfish.config" in runs[0].stdout  # no record for this plugin set yet: validated
    assert runs[1].stdout.strip() == "[]"
    (project.config_path).write_text(project.config_path.read_text() + "slots: 0\n")
    broken = subprocess.run([sys.executable, "-c", PROBE, str(project.root)], env=server_env(),
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode != 0 and "slots" in broken.stderr  # a broken file is never trusted
