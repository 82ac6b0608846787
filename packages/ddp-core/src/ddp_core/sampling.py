"""Disjoint sampling (Sec. 3.2, step 1): every live candidate of every decision is used in every round."""

from __future__ import annotations

from typing import Any

import numpy as np

from ddp_core.space import Architecture, SearchSpace


class DisjointSampler:
    """Draws rounds of R architectures, R = the largest live count of any decision.

    Each decision contributes a fresh permutation of its live candidates to every round, so each live
    candidate is trained at least once per round; the remaining R - k slots of a decision with k < R live
    candidates come from a persistent pool drawn without replacement (refilled when empty), so extra
    exposure is spread evenly over rounds. Pairing across decisions is random.

    Conditional decisions (``Decision.requires``) only spend candidates on the slots where they are
    active; in inactive slots they hold a random live candidate that is never credited.
    """

    def __init__(self, space: SearchSpace, seed: int | None = 0) -> None:
        self.space = space
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.pools: list[list[int]] = [[] for _ in space.decisions]

    def _draw_from_pool(self, decision: int, live: np.ndarray, count: int) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            if not self.pools[decision]:
                self.pools[decision] = self.rng.permutation(live).tolist()
            out.append(self.pools[decision].pop())
        return out

    def _fill(self, decision: int, live: np.ndarray, count: int) -> list[int]:
        """``count`` draws covering every live candidate when count >= len(live)."""
        if count >= len(live):
            draws = self.rng.permutation(live).tolist() + self._draw_from_pool(decision, live, count - len(live))
        else:
            draws = self._draw_from_pool(decision, live, count)
        return self.rng.permutation(np.asarray(draws, dtype=np.int64)).tolist()

    def sample_round(self, live: np.ndarray) -> list[Architecture]:
        """One round of architectures over the ``live`` (E, Kmax) mask."""
        live = np.asarray(live, dtype=bool)
        live_sets = [np.flatnonzero(live[e]) for e in range(self.space.num_decisions)]
        for e, cands in enumerate(live_sets):
            if len(cands) == 0:
                raise ValueError(f"decision {self.space.decisions[e].name!r} has no live candidate left")
            # a pruned candidate must never be drawn again
            self.pools[e] = [k for k in self.pools[e] if live[e, k]]
        size = int(max(len(c) for c in live_sets))
        columns: list[list[int] | None] = [None] * self.space.num_decisions
        for e, decision in enumerate(self.space.decisions):
            if decision.requires is None:
                columns[e] = self._fill(e, live_sets[e], size)
        for e, decision in enumerate(self.space.decisions):
            if decision.requires is None:
                continue
            parent = self.space.decision_index(decision.requires.decision)
            allowed = {self.space.decisions[parent].index(n) for n in decision.requires.candidates}
            active_slots = [r for r in range(size) if columns[parent][r] in allowed]
            column = self.rng.choice(live_sets[e], size=size).tolist()
            for slot, k in zip(active_slots, self._fill(e, live_sets[e], len(active_slots)), strict=True):
                column[slot] = k
            columns[e] = column
        return [tuple(int(columns[e][r]) for e in range(self.space.num_decisions)) for r in range(size)]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "pools": [list(p) for p in self.pools]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.pools = [list(map(int, p)) for p in state["pools"]]
