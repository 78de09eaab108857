"""The run engine: plan, cache keys, launch, watch, finish, reconcile, records.

Public entry points::

    from goldfish.runs import Engine, Reconciler
    run_id = Engine(project).run("w1", reason="baseline", wait=True)
    records.get_run(project, run_id) · records.list_runs(...) · compare.compare(project, a, b)
    sources.register_source(project, "digits_raw", "data/raw.npy")

Imports are lazy so ``import goldfish.runs`` stays cheap for commands that only reconcile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldfish.runs.engine import Engine, Progress
    from goldfish.runs.reconciler import Reconciler

__all__ = ["Engine", "Progress", "Reconciler"]


def __getattr__(name: str) -> Any:
    if name in ("Engine", "Progress"):
        from goldfish.runs import engine

        return getattr(engine, name)
    if name == "Reconciler":
        from goldfish.runs.reconciler import Reconciler

        return Reconciler
    raise AttributeError(name)
