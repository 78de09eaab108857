"""The data lifecycle of a long-lived project: what is reachable (:mod:`.reach`), garbage
collection (:mod:`.gc`), reversible pruning (:mod:`.prune`) and disk usage (:mod:`.du`).

The protocol that lets gc run while other Goldfish processes write is in docs/architecture.md
("Data lifecycle: gc, prune, du").
"""

from __future__ import annotations

DAY = 86400.0
