"""``goldfish image build``: the CLI side of :mod:`goldfish_docker.images`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(cli: argparse._SubParsersAction[Any]) -> None:
    image = cli.add_parser("image", help="container images for docker profiles")
    sub = image.add_subparsers(dest="image_command", metavar="COMMAND")
    sub.required = True
    build = sub.add_parser("build", help="build an image from a workspace's Dockerfile (or "
                                         "requirements.txt), tagged by content")
    build.add_argument("target", nargs="?", default="w1",
                       help="a workspace slot (w1), a mounted workspace's name, or a directory "
                            "(default: w1)")
    build.add_argument("--profile", help="docker profile whose base_image/image a "
                                         "requirements.txt is installed on")
    build.add_argument("--base", help="base image for a requirements.txt (overrides the "
                                      "profile)")
    build.add_argument("--network", help="network for RUN steps (docker's default if unset)")
    build.add_argument("--project", help="project directory (default: search upward)")
    build.set_defaults(handler=cmd_build)


def _context(args: argparse.Namespace) -> tuple[Path, str, Any]:
    """(directory, workspace name, project or None)."""
    from goldfish.errors import GoldfishError
    from goldfish.project import Project

    try:
        project = Project.find(explicit=getattr(args, "project", None))
    except GoldfishError:
        project = None
    if project is not None:
        from goldfish.workspaces import Workspaces

        slots = Workspaces(project).slot_map()
        if args.target in slots:
            return project.slot_path(args.target), str(slots[args.target] or args.target), project
        for slot, workspace in slots.items():
            if workspace == args.target:
                return project.slot_path(slot), str(workspace), project
    path = Path(args.target)
    if path.is_dir():
        return path, path.resolve().name, project
    raise GoldfishError(f"{args.target!r} is not a slot, a mounted workspace or a directory",
                        "e.g. `goldfish image build w1` inside a project")


def cmd_build(args: argparse.Namespace) -> int:
    from goldfish_docker import images

    context, workspace, project = _context(args)
    base = args.base
    if base is None and project is not None:
        profile = project.config.profile(args.profile) if args.profile else None
        if profile is None:
            docker = [p for p in project.config.profiles.values() if p.backend == "docker"]
            profile = docker[0] if len(docker) == 1 else None
        if profile is not None:
            base = profile.backend_config.get("base_image") or profile.image
    print(f"building an image for {workspace} from {context}", file=sys.stderr)
    built = images.build(context, workspace, base_image=base, network=args.network,
                         progress=lambda line: print(f"  {line}", file=sys.stderr))
    print(built.tag)
    print(f"built {built.tag} ({built.image_id[:19]}); use it with `image: {built.tag}` in a "
          "docker profile", file=sys.stderr)
    return 0
