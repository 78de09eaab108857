"""The example plugin's configuration models (imported only when a config is loaded)."""

from __future__ import annotations

from goldfish.config import Section
from pydantic import Field


class ExampleSettings(Section):
    """The ``example:`` section of ``goldfish.yaml``."""

    greeting: str = Field("hello", description="what `goldfish hello` would say")
    repeat: int = Field(1, ge=1, le=10, description="how many times to say it")


class ExampleProfile(Section):
    """Keys an ``example`` profile accepts beyond the common ones."""

    shell: str = Field("/bin/sh", description="shell the example backend would use")
