"""Which checks apply to a signal, with which thresholds and severity.

Layers, later wins: the built-in :data:`DEFAULTS` < ``svs.checks`` in ``goldfish.yaml`` < a stage's
``checks:`` (all its signals, or those named by ``signal``/``signals``) < the signal contract's
``checks:`` < checks stated by approved failure patterns. A layer may say ``false`` (off), ``true``
(on with the current settings), a number (the check's main threshold) or a mapping.

A check some layer configured carries ``asked: True``; the others run *automatically* on their
defaults, and an automatic check never judges data where its statistic has no meaning (see
:mod:`goldfish_svs.stats` and the leakage pairing in :mod:`goldfish_svs.plugin`).
"""

from __future__ import annotations

import copy
from typing import Any

SEVERITY_RANK = {"info": 0, "warning": 1, "blocking": 2}

#: Built-in settings. ``on: False`` checks run only when a layer configures them.
DEFAULTS: dict[str, dict[str, Any]] = {
    # arrays and tables
    "nan_ratio": {"max": 0.0, "severity": "blocking"},
    "inf_ratio": {"max": 0.0, "severity": "blocking"},
    "null_ratio": {"max": 0.5, "severity": "warning"},
    "constant": {"severity": "blocking"},
    "collapsed": {"min_unique_ratio": 0.01, "severity": "blocking"},
    "top_k_concentration": {"k": 1, "max": 0.5, "severity": "warning"},
    "entropy": {"min": 0.5, "bins": 64, "severity": "warning"},
    "class_balance": {"min_classes": 2, "min_share": 0.01, "max_classes": 1000,
                      "severity": "blocking"},
    "leakage": {"max": 0.0, "severity": "blocking"},
    "range": {"on": False, "severity": "blocking"},
    "unique_ratio": {"on": False, "severity": "warning"},
    "row_count": {"on": False, "severity": "blocking"},
    "vocab_utilization": {"on": False, "severity": "warning"},
    "drift": {"on": False, "max_psi": 0.25, "bins": 10, "severity": "warning"},
    # metric health
    "nonfinite_metric": {"severity": "blocking"},
    "divergence": {"ratio": 10.0, "window": 50, "severity": "blocking"},
    "loss_rise": {"ratio": 2.0, "window": 10, "severity": "warning"},
    "grad_norm": {"max": 100.0, "severity": "blocking"},
    "stall": {"seconds": 1800.0, "severity": "blocking"},
    "no_progress": {"on": False, "seconds": 3600.0, "severity": "warning"},
}
#: The setting a bare number sets (``nan_ratio: 0.01`` means ``{max: 0.01}``).
MAIN_SETTING = {"nan_ratio": "max", "inf_ratio": "max", "null_ratio": "max",
                "collapsed": "min_unique_ratio", "top_k_concentration": "max", "entropy": "min",
                "class_balance": "min_share", "leakage": "max", "drift": "max_psi",
                "divergence": "ratio", "loss_rise": "ratio", "grad_norm": "max",
                "stall": "seconds",
                "no_progress": "seconds", "unique_ratio": "min", "vocab_utilization": "min",
                "row_count": "min"}


def merge(base: dict[str, Any] | None, name: str, layer: Any) -> dict[str, Any] | None:
    """Apply one layer's value for check ``name`` to ``base`` (None = off)."""
    if layer is None:
        return base
    if layer is False:
        return None
    out: dict[str, Any] = dict(base) if base is not None else {"severity": "blocking"}
    out["asked"] = True
    if layer is True:
        out["on"] = True
    elif isinstance(layer, (int, float)):
        out[MAIN_SETTING.get(name, "max")] = layer
        out["on"] = True
    elif isinstance(layer, dict):
        out.update({k: v for k, v in layer.items() if k not in ("signal", "signals", "stage",
                                                                 "check", "pattern")})
        out["on"] = True
        if "pattern" in layer:
            out["pattern"] = layer["pattern"]
    return out


def applies(layer_settings: Any, signal: str) -> bool:
    if not isinstance(layer_settings, dict):
        return True
    names = layer_settings.get("signals") or ([layer_settings["signal"]]
                                              if layer_settings.get("signal") else None)
    return names is None or signal in names


def resolve(config: Any, stage_checks: dict[str, Any] | None, contract: dict[str, Any] | None,
            signal: str, pattern_checks: list[dict[str, Any]] | None = None
            ) -> dict[str, dict[str, Any]]:
    """Effective settings per check for one signal; checks that are off are absent."""
    out: dict[str, dict[str, Any] | None] = {k: copy.deepcopy(v) for k, v in DEFAULTS.items()}
    layers: list[dict[str, Any]] = [dict(getattr(config, "checks", None) or {})]
    layers.append({k: v for k, v in (stage_checks or {}).items() if applies(v, signal)})
    layers.append(dict((contract or {}).get("checks") or {}))
    for layer in layers:
        for name, value in layer.items():
            out[name] = merge(out.get(name), name, value)
    for spec in pattern_checks or []:
        if spec.get("signal") in (None, signal):
            name = str(spec["check"])
            out[name] = merge(out.get(name), name, spec)
    return {k: v for k, v in out.items() if v is not None}


def switch_off(check: str, *, metric: bool = False) -> str:
    """How to turn ``check`` off, said in every warning and blocking finding it raises."""
    where = "on the stage" if metric else "on the stage or the output's contract"
    return (f"to switch this check off: `checks: {{{check}: false}}` {where} in pipeline.yaml, "
            f"or `svs: {{checks: {{{check}: false}}}}` in goldfish.yaml")


def severity(settings: dict[str, Any], enforcement: str) -> str:
    """A check's severity when breached, capped by the project's enforcement."""
    sev = str(settings.get("severity", "blocking"))
    if enforcement == "warning" and sev == "blocking":
        return "warning"
    return sev


def is_on(settings: dict[str, Any] | None) -> bool:
    return settings is not None and settings.get("on", True) is not False


def asked(settings: dict[str, Any] | None) -> bool:
    """The user (or an approved pattern) configured this check: it is judged wherever it runs."""
    return bool(settings and settings.get("asked"))
