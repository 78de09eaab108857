"""The human side: profiles validated with did-you-mean, `goldfish doctor`, `goldfish profiles`,
`goldfish image build`, and a clear error when the engine is not there."""

from __future__ import annotations

import json
from pathlib import Path

from docker_support import goldfish, remove_image, use_docker_profile
from goldfish.testing.projects import CHAIN, make_project
from goldfish_docker import engine


def _root(tmp_path: Path, image: str, extra: str = "") -> Path:
    root = make_project(tmp_path, CHAIN).root
    use_docker_profile(root, image, extra)
    return root


def test_unknown_profile_keys_are_errors_with_did_you_mean(tmp_path: Path,
                                                           docker_base_image: str) -> None:
    root = _root(tmp_path, docker_base_image, "netwrk: host, shm_size_gb: -1")
    proc = goldfish("config", "check", cwd=root, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "netwrk" in text and "network" in text  # did you mean
    assert "shm_size_gb" in text and "goldfish.yaml:" in text
    assert "Traceback" not in text


def test_doctor_reports_the_engine_and_each_docker_profile(tmp_path: Path,
                                                           docker_base_image: str) -> None:
    root = _root(tmp_path, docker_base_image)
    text = root.joinpath("goldfish.yaml").read_text()
    root.joinpath("goldfish.yaml").write_text(text.replace(
        "default_profile:", "  docker-missing: {backend: docker, image: \"goldfish-test/absent:0\"}"
        "\ndefault_profile:"))
    proc = goldfish("doctor", "--json", cwd=root, check=False)
    checks = {(c["subject"], c["status"]): c["detail"] for c in json.loads(proc.stdout)}
    version = engine.client().version()["Version"]
    assert version in checks[("docker engine", "ok")] and "runc" in checks[("docker engine", "ok")]
    assert docker_base_image in checks[("profile docker-cpu", "ok")]
    missing = checks[("profile docker-missing", "fail")]
    assert "goldfish-test/absent:0" in missing and "goldfish image build" in missing
    assert proc.returncode == 1

    listed = goldfish("profiles", cwd=root).stdout
    line = next(ln for ln in listed.splitlines() if "docker-cpu" in ln)
    assert line.startswith("*") and " docker " in line and docker_base_image in line
    assert "network=none" in line


def test_an_unreachable_engine_is_a_clear_error(tmp_path: Path, docker_base_image: str) -> None:
    root = _root(tmp_path, docker_base_image)
    gone = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    proc = goldfish("run", "w1", "--wait", cwd=root, check=False, env=gone)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Docker engine" in text and "not reachable" in text and "start" in text
    assert "Traceback" not in text
    doctor = goldfish("doctor", cwd=root, check=False, env=gone)
    assert "fail  docker engine" in doctor.stdout


def test_image_build_tags_by_content_and_reports_progress(tmp_path: Path,
                                                          docker_base_image: str) -> None:
    root = _root(tmp_path, docker_base_image)
    ctx = tmp_path / "imagectx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {docker_base_image}\nCOPY extra.txt /extra.txt\n")
    (ctx / "extra.txt").write_text("v1")
    tags = []
    try:
        first = goldfish("image", "build", str(ctx), "--network", "none", cwd=root)
        tag = first.stdout.strip()
        tags.append(tag)
        assert tag.startswith("goldfish/imagectx:") and len(tag.split(":")[1]) == 12
        assert "Step 1/2" in first.stderr or "FROM" in first.stderr, "build progress shown"
        assert engine.client().images.get(tag).id == engine.client().images.get(
            "goldfish/imagectx:latest").id
        again = goldfish("image", "build", str(ctx), "--network", "none", cwd=root)
        assert again.stdout.strip() == tag, "same content, same tag"
        (ctx / "extra.txt").write_text("v2")
        changed = goldfish("image", "build", str(ctx), "--network", "none", cwd=root)
        tags.append(changed.stdout.strip())
        assert tags[1] != tag

        (ctx / "Dockerfile").unlink()
        refused = goldfish("image", "build", str(ctx), cwd=root, check=False)
        assert refused.returncode != 0
        assert "neither a Dockerfile nor a requirements.txt" in refused.stderr
        (ctx / "requirements.txt").write_text("numpy\n")
        no_base = goldfish("image", "build", str(ctx), cwd=ctx, check=False)  # no project
        assert no_base.returncode != 0 and "--base" in no_base.stderr
        # in the project, the docker profile's image is the base; this image has no pip, so
        # the generated pip step fails, and says so
        generated = goldfish("image", "build", str(ctx), "--network", "none", cwd=root,
                             check=False)
        assert generated.returncode != 0
        assert "pip install" in generated.stderr and "failed" in generated.stderr
        assert "Traceback" not in generated.stderr
    finally:
        for t in (*tags, "goldfish/imagectx:latest"):
            remove_image(t)
