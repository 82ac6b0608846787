"""The pruning schedule: round sizes R of each stage, and T (rounds per stage) for an evaluation budget."""

from __future__ import annotations

import numpy as np

from ddp_core.config import SearchConfig
from ddp_core.distribution import choose_pruned, prunable_mask
from ddp_core.sampling import reachable_decisions, round_size
from ddp_core.space import SearchSpace


def _prune_once(space: SearchSpace, live: np.ndarray) -> np.ndarray:
    live = live.copy()
    prunable = prunable_mask(space, live) & reachable_decisions(space, live)[:, None]
    for e, k in enumerate(choose_pruned(np.zeros(live.shape), prunable)):
        if k >= 0:
            live[e, k] = False
    return live


def stage_schedule(
    space: SearchSpace, prune: bool = True, stages: int | None = None, live: np.ndarray | None = None
) -> list[int]:
    """Round sizes R of each stage from ``live`` (default: the full space) on, assuming one candidate per
    reachable decision is pruned per stage (the lowest index where conditions make the order matter)."""
    live = space.full_mask() if live is None else np.array(live, dtype=bool)
    if not prune:
        return [round_size(space, live)] * (stages or len(stage_schedule(space)))
    sizes: list[int] = []
    while (prunable_mask(space, live) & reachable_decisions(space, live)[:, None]).any():
        sizes.append(round_size(space, live))
        live = _prune_once(space, live)
    return sizes or [round_size(space, live)]


def rounds_for_budget(space: SearchSpace, config: SearchConfig) -> int:
    """T for ``config``: rounds_per_stage, or the largest T whose whole schedule fits max_evaluations."""
    if config.max_evaluations is None:
        return config.rounds_per_stage or 3
    per_round = sum(stage_schedule(space, config.prune, config.stages))
    rounds = config.max_evaluations // per_round
    if rounds < 1:
        raise ValueError(
            f"max_evaluations={config.max_evaluations} cannot pay for one round per stage: this space needs at "
            f"least {per_round} evaluations (T=1); raise it or shrink the space"
        )
    return rounds
