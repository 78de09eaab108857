"""The table of goldfish-svs checks in ``docs/pipelines.md``, rendered from the code's defaults
(:data:`goldfish_svs.settings.DEFAULTS` and the automatic-check limits), so the documented
thresholds cannot drift; a test regenerates it and compares. Regenerate with::

    python -m goldfish_svs.reference            # rewrite docs/pipelines.md
    python -m goldfish_svs.reference --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- BEGIN GENERATED SVS CHECKS (python -m goldfish_svs.reference) -->"
END = "<!-- END GENERATED SVS CHECKS -->"

#: What each check looks at, and what its automatic run leaves alone.
WHAT: dict[str, str] = {
    "nan_ratio": "share of NaN values (arrays, CSV columns, JSON numbers)",
    "inf_ratio": "share of infinite values",
    "null_ratio": "share of empty/null cells per CSV column",
    "constant": "every value the same",
    "collapsed": "distinct rows / rows of a 2-D array (a collapsed embedding); automatic: not on "
                 "low-cardinality data",
    "top_k_concentration": "share of the k most frequent rows; automatic: not on "
                           "low-cardinality data",
    "entropy": "Shannon entropy (bits) of the values; automatic: not on low-cardinality data",
    "class_balance": "1-D integer/string arrays and label columns: number of classes, share of "
                     "the rarest (under `min_share` is a warning)",
    "leakage": "share of held-out rows also present in train (row hashes); automatic pairs are "
               "`train_*` and `test_*`, `val_*`, `eval_*` or `holdout_*` outputs of the same role (`train_x`/"
               "`test_x`) and row layout",
    "range": "every value within `min`/`max`",
    "unique_ratio": "distinct rows / rows within `min`/`max`",
    "row_count": "rows within `min`/`max`",
    "vocab_utilization": "share of a `vocab_size` actually used",
    "drift": "PSI/KS against the same output of a `reference` run",
    "nonfinite_metric": "a metric logged NaN or Inf (points flushed at once by goldfish.io)",
    "divergence": "a loss-like metric's last value / the minimum of its last `window` points",
    "loss_rise": "a loss-like metric whose last `window` points all stay above `ratio`× its "
                 "best",
    "grad_norm": "a gradient-norm metric above `max`",
    "stall": "seconds since the stage's last heartbeat (metric flushes count)",
    "no_progress": "seconds since the last metric point while the stage is alive",
}


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def render() -> str:
    from goldfish_svs.config import SvsConfig
    from goldfish_svs.plugin import AUTO_LEAKAGE_MIN_DISTINCT
    from goldfish_svs.settings import DEFAULTS
    from goldfish_svs.stats import MIN_ROWS

    missing = sorted(set(DEFAULTS) - set(WHAT))
    if missing:
        raise ValueError(f"goldfish_svs.reference.WHAT does not describe {missing}")
    rows = ["| check | runs | default settings | severity when breached | looks at |",
            "|---|---|---|---|---|"]
    for name, settings in DEFAULTS.items():
        runs = "when configured" if settings.get("on") is False else "by default"
        shown = ", ".join(f"`{k}: {_value(v)}`" for k, v in settings.items()
                          if k not in ("on", "severity")) or "—"
        rows.append(f"| `{name}` | {runs} | {shown} | {settings['severity']} | {WHAT[name]} |")
    grace = SvsConfig.model_fields["stop_grace_seconds"].default
    notes = [
        "",
        f"Automatic checks (running on their defaults, configured by nobody) judge only data "
        f"where their statistic means something: `constant`, `collapsed`, `top_k_concentration`, "
        f"`entropy` and `class_balance` skip arrays of fewer than {MIN_ROWS} rows; `collapsed`, "
        f"`top_k_concentration` and `entropy` skip low-cardinality data (distinct values ** row "
        f"width < rows: labels, one-hot codes, categories, masks); an automatic leakage pair is "
        f"judged only when at least {100 * AUTO_LEAKAGE_MIN_DISTINCT:g}% of the train side's rows "
        f"are distinct (labels repeat by nature: the finding then says it was not judged, as "
        f"`info`). A check you configure (in `svs.checks`, a stage's `checks:` or a contract's "
        f"`checks:`) is judged wherever it runs.",
        "",
        f"A blocking metric finding asks the stage to stop (`io.should_stop()`); a stage that "
        f"polls it gets `svs.stop_grace_seconds` ({_value(grace)} s) before it is terminated, a "
        f"stage that never polls it is terminated at once.",
    ]
    return "\n".join(rows + notes) + "\n"


def docs_file() -> Path:
    """``docs/pipelines.md`` of the source checkout this module lives in."""
    return Path(__file__).resolve().parents[3] / "docs" / "pipelines.md"


def expected(path: Path | None = None) -> tuple[Path, str]:
    from goldfish.reference import replace_between

    path = path or docs_file()
    return path, replace_between(path.read_text(encoding="utf-8"), BEGIN, END, render())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goldfish_svs.reference",
                                     description="Regenerate the checks table of "
                                                 "docs/pipelines.md.")
    parser.add_argument("--check", action="store_true", help="only report a stale file")
    parser.add_argument("--file", type=Path, default=None, help="the pipelines.md to update")
    args = parser.parse_args(argv)
    path, text = expected(args.file)
    if path.read_text(encoding="utf-8") == text:
        return 0
    if args.check:
        print(f"stale: {path}")
        return 1
    path.write_text(text, encoding="utf-8")
    print(f"regenerated: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
