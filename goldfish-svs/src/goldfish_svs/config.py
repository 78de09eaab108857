"""The ``svs:`` section of ``goldfish.yaml``: enforcement, sampling and per-check defaults.

Example::

    svs:
      enforcement: blocking        # blocking | warning (never stop anything) | off (no checks)
      sample_size: 1000000         # values read for distribution checks
      full_scan_mb: 2048           # NaN/Inf are counted over arrays up to this size, sampled above
      checks:
        nan_ratio: {max: 0.001}
        stall: {seconds: 600}      # default 1800

A stage's ``checks:`` and a contract's ``checks:`` in ``pipeline.yaml`` override these per signal.
Every check and its default thresholds: the generated table in ``docs/pipelines.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from goldfish.config import Section
from pydantic import Field, field_validator


class SvsConfig(Section):
    enforcement: Literal["blocking", "warning", "off"] = Field(
        "blocking", description="blocking: breached blocking checks fail the stage or stop the "
                                "run; warning: every breach is only a warning; off: no checks")
    sample_size: int = Field(
        1_000_000, gt=0, description="values sampled (in contiguous blocks) for distribution "
                                     "checks on large arrays")
    full_scan_mb: float = Field(
        2048, ge=0, description="arrays up to this size get an exact NaN/Inf count over every "
                                "value; larger ones are sampled")
    leakage_max_rows: int = Field(
        5_000_000, gt=0, description="rows hashed per signal for the leakage check (beyond: "
                                     "sampled)")
    stop_grace_seconds: float = Field(
        30.0, ge=0, description="after a blocking metric finding asks a stage to stop, seconds "
                                "before it is cancelled (SIGTERM, then SIGKILL); a stage that "
                                "never calls io.should_stop() is cancelled at once")
    checks: dict[str, Any] = Field(
        default_factory=dict, description="per-check settings over the built-in defaults "
                                          "(table in docs/pipelines.md), e.g. `{nan_ratio: "
                                          "{max: 0.01}, stall: false}`; `false` turns a check "
                                          "off")

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: dict[str, Any]) -> dict[str, Any]:
        from goldfish.errors import did_you_mean

        from goldfish_svs.settings import DEFAULTS

        for name, settings in value.items():
            if name not in DEFAULTS:
                hint = did_you_mean(str(name), list(DEFAULTS)) or (
                    f"checks: {', '.join(sorted(DEFAULTS))}")
                raise ValueError(f"unknown check {name!r} ({hint})")
            if not (settings is None or isinstance(settings, (bool, int, float, dict))):
                raise ValueError(f"settings of check {name!r} must be a mapping, true/false or "
                                 f"a number, got {settings!r}")
        return value
