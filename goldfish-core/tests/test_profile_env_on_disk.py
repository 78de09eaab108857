"""A profile's ``env:`` values are not written where other users can read them (issue 9 item 12).

The values reach the stage through the local supervisor's environment (as ``env_passthrough``
values do), not through ``launch.json``; and ``launch.json`` is private to its owner (0600) in any
case. Checked end to end: ``goldfish run`` of a stage that needs the value, then every file the
run left behind is searched for it.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from goldfish.project import Project
from runs_support import cli, make_project

SECRET = "tok-3f9a1c-profile-secret-value"
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()

FILES = {
    "pipeline.yaml": """
        name: secret
        stages:
          - name: use
            outputs: {seen: {type: json}}
    """,
    # the stage code holds only a digest of the value (the code is versioned and stored)
    "modules/use.py": f"""
        import hashlib, os
        from goldfish import io
        token = os.environ.get("API_TOKEN", "")
        io.save_output("seen", {{"ok": hashlib.sha256(token.encode()).hexdigest() == {DIGEST!r},
                                 "setting": os.environ.get("PLAIN_SETTING")}})
    """,
}


def _with_profile_env(project: Project) -> None:
    text = project.config_path.read_text(encoding="utf-8")
    text = text.replace("  local: {backend: local}",
                        "  local:\n    backend: local\n"
                        f"    env: {{API_TOKEN: {SECRET}, PLAIN_SETTING: fast}}")
    project.config_path.write_text(text, encoding="utf-8")
    project.reload_config()


def test_profile_env_values_reach_the_stage_but_no_readable_file(tmp_path: Path) -> None:
    project = make_project(tmp_path, FILES)
    _with_profile_env(project)
    result = cli(project, "run", "--wait", "exp")
    assert result.code == 0, result.out + result.err
    seen = cli(project, "show", "latest")
    assert seen.code == 0, seen.err
    (output,) = project.root.joinpath(".goldfish", "runs").rglob("seen.json")
    assert '"ok": true' in output.read_text() and '"setting": "fast"' in output.read_text()

    exposed = []
    for path in project.root.rglob("*"):
        if not path.is_file() or path == project.config_path or path.is_symlink():
            continue
        if SECRET.encode() in path.read_bytes():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                exposed.append(f"{path.relative_to(project.root)} ({oct(mode)})")
    assert exposed == [], f"the profile's env value is readable by others in: {exposed}"

    (launch,) = project.root.joinpath(".goldfish", "runs").rglob("launch.json")
    assert SECRET not in launch.read_text()
    assert stat.S_IMODE(launch.stat().st_mode) == 0o600
