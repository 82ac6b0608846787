"""Disjoint sampling (Sec. 3.2, step 1): every live candidate of every active decision is used in every round.

A round is R architectures. Each decision's column of the round is a multiset holding every live candidate
once, plus extra draws from a per-decision pool (without replacement, refilled when empty) when the decision
has fewer live candidates than R, so extra exposure is spread evenly over rounds.

Conditional decisions (BERT layer widths under depth) are active only in the slots where their controller
takes an allowed value. The controller's column therefore repeats the values that activate its dependents
until every dependent is active in at least as many slots as it has live candidates; R counts only decisions
that can still be active.

Which slot gets which candidate (the pairing across decisions) is free. By default it is random (the paper);
a preset may pass per-slot *targets* (architectures a slot should copy where the candidate is still free)
and *preferences* (per-candidate values; a slot takes the free candidate it values most), in priority order.
Neither changes what each decision covers, only how the columns are paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ddp_core.space import Architecture, SearchSpace


def _allowed(space: SearchSpace, e: int) -> tuple[int, np.ndarray]:
    condition = space.decisions[e].requires
    parent = space.decision_index(condition.decision)
    allowed = np.array([space.decisions[parent].index(n) for n in condition.candidates], dtype=np.int64)
    return parent, allowed


def reachable_decisions(space: SearchSpace, live: np.ndarray) -> np.ndarray:
    """(E,) bool: decisions that can still be active given the live candidates of their controllers."""
    out = np.ones(space.num_decisions, dtype=bool)
    for e, decision in enumerate(space.decisions):
        if decision.requires is not None:
            parent, allowed = _allowed(space, e)
            out[e] = bool(live[parent, allowed].any())
    return out


def active_matrix(space: SearchSpace, architectures: np.ndarray) -> np.ndarray:
    """(N, E) bool: ``space.active_mask`` of each row of the (N, E) int array ``architectures``, vectorised."""
    architectures = np.asarray(architectures, dtype=np.int64).reshape(-1, space.num_decisions)
    active = np.ones(architectures.shape, dtype=bool)
    for e, decision in enumerate(space.decisions):
        if decision.requires is not None:
            parent, allowed = _allowed(space, e)
            active[:, e] = np.isin(architectures[:, parent], allowed)
    return active


def controller_counts(space: SearchSpace, live: np.ndarray) -> dict[int, np.ndarray]:
    """Per controller decision, how often each of its candidates must appear in a round.

    Every live value once; then, while a reachable dependent is active in fewer slots than it has live
    candidates, one more slot of the live allowed value that serves the most such dependents (ties: the one
    allowed by the most dependents, then the lowest index).
    """
    live = np.asarray(live, dtype=bool)
    reach = reachable_decisions(space, live)
    out: dict[int, np.ndarray] = {}
    for c in space.controllers:
        counts = live[c].astype(np.int64)
        dependents = []
        for e, decision in enumerate(space.decisions):
            if decision.requires is not None and reach[e] and space.decision_index(decision.requires.decision) == c:
                _, allowed = _allowed(space, e)
                mask = np.zeros(live.shape[1], dtype=bool)
                mask[allowed] = True
                dependents.append((int(live[e].sum()), mask & live[c]))
        while True:
            short = [mask for need, mask in dependents if counts[mask].sum() < need]
            if not short:
                break
            serves = np.sum(short, axis=0)
            allowed_by = np.sum([mask for _, mask in dependents], axis=0)
            key = np.where(live[c], serves * 10_000 + allowed_by, -1)
            counts[int(np.argmax(key))] += 1
        out[c] = counts
    return out


def round_size(space: SearchSpace, live: np.ndarray) -> int:
    """R: the largest column any active decision needs (controllers count their repeated values)."""
    live = np.asarray(live, dtype=bool)
    reach = reachable_decisions(space, live)
    sizes = [int(live[e].sum()) for e in range(space.num_decisions) if reach[e]]
    sizes += [int(c.sum()) for c in controller_counts(space, live).values()]
    return max(sizes)


class DisjointSampler:
    """Draws rounds over the live mask; see the module docstring. Its RNG and pools are part of the state."""

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

    def _assign(
        self, e: int, multiset: list[int], slots: Sequence[int], targets: Sequence[Architecture | None],
        preferences: Sequence[np.ndarray | None],
    ) -> dict[int, int]:
        """Place ``multiset`` on ``slots``: targets first, then preferences, then at random (slot order = priority)."""
        remaining = [int(k) for k in self.rng.permutation(np.asarray(multiset, dtype=np.int64))]
        column: dict[int, int] = {}
        for r in slots:
            target = targets[r] if r < len(targets) else None
            if target is not None and int(target[e]) in remaining:
                column[r] = int(target[e])
                remaining.remove(column[r])
        for r in slots:
            preference = preferences[r] if r < len(preferences) else None
            if r in column or preference is None:
                continue
            k = max(remaining, key=lambda k: preference[e, k])
            column[r] = k
            remaining.remove(k)
        for r, k in zip([r for r in slots if r not in column], remaining, strict=True):
            column[r] = k
        return column

    def sample_round(
        self,
        live: np.ndarray,
        targets: Sequence[Architecture | None] = (),
        preferences: Sequence[np.ndarray | None] = (),
    ) -> list[Architecture]:
        """One round over the ``live`` (E, Kmax) mask.

        Parameters
        ----------
        targets : per slot, an architecture the slot copies wherever that candidate is still free, or None
        preferences : per slot, an (E, Kmax) array; the slot takes the free candidate it values most, or None
        """
        space = self.space
        live = np.asarray(live, dtype=bool)
        live_sets = [np.flatnonzero(live[e]) for e in range(space.num_decisions)]
        for e, cands in enumerate(live_sets):
            if len(cands) == 0:
                raise ValueError(f"decision {space.decisions[e].name!r} has no live candidate left")
            self.pools[e] = [k for k in self.pools[e] if live[e, k]]  # a pruned candidate is never drawn again
        reach = reachable_decisions(space, live)
        counts = controller_counts(space, live)
        size = round_size(space, live)
        slots = range(size)
        columns: list[dict[int, int] | None] = [None] * space.num_decisions
        for c, count in counts.items():
            required = [k for k in range(live.shape[1]) for _ in range(int(count[k]))]
            extra = self._draw_from_pool(c, live_sets[c], size - len(required))
            columns[c] = self._assign(c, required + extra, slots, targets, preferences)
        for e, decision in enumerate(space.decisions):
            if decision.requires is None and columns[e] is None:
                extra = self._draw_from_pool(e, live_sets[e], size - len(live_sets[e]))
                columns[e] = self._assign(e, live_sets[e].tolist() + extra, slots, targets, preferences)
        for e, decision in enumerate(space.decisions):
            if decision.requires is None:
                continue
            parent, allowed = _allowed(space, e)
            active = [r for r in slots if columns[parent][r] in set(allowed.tolist())]
            column: dict[int, int] = {}
            if reach[e] and active:
                extra = self._draw_from_pool(e, live_sets[e], max(len(active) - len(live_sets[e]), 0))
                column = self._assign(e, live_sets[e].tolist() + extra, active, targets, preferences)
            for r in slots:
                if r not in column:  # inactive here: any live candidate, never credited
                    target = targets[r] if r < len(targets) else None
                    keep = target is not None and live[e, int(target[e])]
                    column[r] = int(target[e]) if keep else int(self.rng.choice(live_sets[e]))
            columns[e] = column
        return [tuple(int(columns[e][r]) for e in range(space.num_decisions)) for r in slots]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "pools": [list(p) for p in self.pools]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.pools = [list(map(int, p)) for p in state["pools"]]
