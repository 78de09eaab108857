"""The example plugin's settings models (imported only when a goldfish.yaml is loaded)."""

from __future__ import annotations

from goldfish.config import Section
from pydantic import Field


class ExampleProfile(Section):
    """Keys a ``backend: example`` profile accepts beyond the common ones."""

    niceness: int = Field(10, ge=0, le=19, description="`nice` level the stages run at")
    kill_grace_seconds: float = Field(10.0, ge=0, description="SIGTERM → SIGKILL on cancel")


class DirSettings(Section):
    """Settings next to a ``dir://`` storage URI."""

    root: str = Field(description="folder holding every dir:// object (created on first write)")


class ExampleSettings(Section):
    """The ``example:`` section of ``goldfish.yaml``."""

    greeting: str = Field("hello", description="what `goldfish hello` would say")
    repeat: int = Field(1, ge=1, le=10, description="how many times to say it")
