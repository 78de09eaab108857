"""``goldfish image build``: an image for a workspace, tagged by its content.

The build context is the workspace's directory. With a ``Dockerfile`` it is built as is; with
only a ``requirements.txt`` a Dockerfile is generated ``FROM`` the profile's ``base_image`` (or
``image``) that pip-installs it. The tag is ``goldfish/<workspace>:<first 12 hex of the content
hash>`` (Dockerfile, requirements and every file the Dockerfile can COPY), plus ``:latest`` — so
an unchanged workspace builds to the same tag, and the image id, not the tag, enters cache keys.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from goldfish.errors import GoldfishError, InvalidInputError

from goldfish_docker import engine

SKIP_DIRS = {".git", "__pycache__", ".goldfish", ".venv", "node_modules"}


@dataclass(frozen=True)
class Built:
    tag: str
    image_id: str
    generated: bool  # the Dockerfile was generated from requirements.txt


def generated_dockerfile(base: str) -> str:
    return (f"FROM {base}\n"
            "COPY requirements.txt /tmp/goldfish-requirements.txt\n"
            "RUN python3 -m pip install --no-cache-dir -r /tmp/goldfish-requirements.txt\n")


def _files(context: Path) -> list[Path]:
    out = []
    for path in sorted(context.rglob("*")):
        rel = path.relative_to(context)
        if any(part in SKIP_DIRS for part in rel.parts) or not path.is_file():
            continue
        out.append(path)
    return out


def _context_tar(context: Path, dockerfile: str | None) -> tuple[bytes, str]:
    """The build context as a tar (with a generated Dockerfile added) and its content hash."""
    digest = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in _files(context):
            rel = path.relative_to(context).as_posix()
            data = path.read_bytes()
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), path.stat().st_mode & 0o777, 0
            tar.addfile(info, io.BytesIO(data))
        if dockerfile is not None:
            data = dockerfile.encode()
            digest.update(b"Dockerfile\0" + hashlib.sha256(data).digest())
            info = tarfile.TarInfo("Dockerfile")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), digest.hexdigest()


def repository_name(workspace: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", workspace.lower()).strip("-._") or "workspace"
    return f"goldfish/{name}"


def build(context: Path, workspace: str, *, base_image: str | None = None,
          network: str | None = None,
          progress: Callable[[str], None] = lambda line: None) -> Built:
    context = Path(context)
    if not context.is_dir():
        raise InvalidInputError(f"{context} is not a directory",
                                "name a workspace slot (w1) or a directory with a Dockerfile")
    generated = None
    if not (context / "Dockerfile").is_file():
        if not (context / "requirements.txt").is_file():
            raise InvalidInputError(
                f"{context} has neither a Dockerfile nor a requirements.txt",
                "add a Dockerfile (FROM an image with Python 3.9+), or a requirements.txt and "
                "`base_image:` (or `image:`) on the docker profile")
        if not base_image:
            raise InvalidInputError(
                f"{context} has only a requirements.txt and no base image to install it on",
                "set `base_image:` on the docker profile, or pass --base IMAGE")
        generated = generated_dockerfile(base_image)
    data, digest = _context_tar(context, generated)
    repo = repository_name(workspace)
    tag = f"{repo}:{digest[:12]}"
    docker = engine.sdk()
    with engine.reachable(f"building {tag}"):
        api = engine.client().api
        image_id = None
        errors: list[str] = []
        for chunk in api.build(fileobj=io.BytesIO(data), custom_context=True, tag=tag, rm=True,
                               forcerm=True, decode=True, network_mode=network):
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    if line.strip():
                        progress(line.rstrip())
            if "error" in chunk:
                errors.append(str(chunk["error"]).strip())
            aux = chunk.get("aux") or {}
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
        if errors:
            raise GoldfishError(f"building {tag} from {context} failed: {errors[-1]}",
                                "fix the Dockerfile (or requirements.txt) and build again")
        try:
            image = engine.client().images.get(tag)
        except docker.errors.ImageNotFound:
            raise GoldfishError(f"building {tag} from {context} produced no image",
                                "see the build output above") from None
        image.tag(repo, "latest")
    return Built(tag=tag, image_id=image_id or str(image.id), generated=generated is not None)
