"""`goldfish doctor` asks each profile's backend about itself through one mechanism:
``diagnose(profile_name, profile)`` (:func:`goldfish.runs.backends.diagnose`), the optional
method the docker and GCE backends offer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from goldfish import hookimpl
from goldfish.builtins.local_compute import LocalBackend
from goldfish.cli.project_cmds import diagnose
from goldfish.project import Project


class SelfCheckingBackend(LocalBackend):
    name = "selfcheck"

    def diagnose(self, profile_name: str, profile: Any) -> list[tuple[str, str, str]]:
        if profile.env.get("BROKEN"):
            raise RuntimeError("engine socket refused")
        return [("ok", "selfcheck engine", "v1 reachable"),  # the same for every profile
                ("ok", f"profile {profile_name}", f"cpus {profile.cpus:g}")]


class SelfCheckPlugin:
    @hookimpl
    def register_compute_backends(self, register: Callable[..., None]) -> None:
        register("selfcheck", SelfCheckingBackend)


def test_doctor_shows_each_backends_own_lines_once_and_names_a_failing_check(
        goldfish_project: Project, register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(SelfCheckPlugin(), name="selfcheck")
    config = goldfish_project.config_path
    config.write_text(config.read_text().replace("  local: {backend: local}\n", (
        "  local: {backend: local}\n"
        "  small: {backend: selfcheck, cpus: 1}\n"
        "  large: {backend: selfcheck, cpus: 8}\n"
        "  broken: {backend: selfcheck, env: {BROKEN: '1'}}\n")))
    goldfish_project.reload_config()

    lines = [(c.status, c.subject, c.detail) for c in diagnose(str(goldfish_project.root))]

    assert lines.count(("ok", "selfcheck engine", "v1 reachable")) == 1
    assert ("ok", "profile small", "cpus 1") in lines
    assert ("ok", "profile large", "cpus 8") in lines
    assert ("fail", "profile broken", "backend 'selfcheck' could not check itself: engine "
                                      "socket refused") in lines


def test_there_is_one_doctor_mechanism() -> None:
    """The docker backend's checks moved onto ``diagnose``; the class-level ``doctor`` route
    (``project_cmds._backend_checks``) is gone."""
    import goldfish.cli.project_cmds as project_cmds

    assert not hasattr(project_cmds, "_backend_checks")
    source = Path(project_cmds.__file__).read_text()
    assert ".doctor(" not in source
