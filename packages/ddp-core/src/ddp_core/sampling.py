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


def _finite(preferences: Sequence[np.ndarray | None], size: int) -> bool:
    return all(p is None or bool(np.isfinite(p).all()) for p in preferences[:size])


class DisjointSampler:
    """Draws rounds over the live mask; see the module docstring. Its RNG and pools are part of the state."""

    def __init__(self, space: SearchSpace, seed: int | None = 0) -> None:
        self.space = space
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.pools: list[list[int]] = [[] for _ in space.decisions]
        self._shape_key: tuple | None = None
        self._shape: tuple[list[np.ndarray], np.ndarray, dict[int, np.ndarray], int] | None = None

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
        return self._assign_permuted(e, remaining, slots, targets, preferences)

    @staticmethod
    def _assign_permuted(
        e: int, remaining: list[int], slots: Sequence[int], targets: Sequence[Architecture | None],
        preferences: Sequence[np.ndarray | None],
    ) -> dict[int, int]:
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

    @staticmethod
    def _assign_columns(
        permuted: np.ndarray, targets: Sequence[Architecture | None],
        preferences: Sequence[np.ndarray | None], decisions: np.ndarray,
    ) -> np.ndarray:
        """:meth:`_assign` for many decisions whose multisets fill every slot, at once.

        ``permuted`` (D, R): each decision's multiset in the order ``_assign``'s permutation gave it. The result
        (D, R) is what ``_assign`` returns for each: slot order is priority, the first free position wins a
        target, the first of equal preferences wins (``max`` over the remaining list), the rest in order.
        """
        count, size = permuted.shape
        free = np.ones((count, size), dtype=bool)
        column = np.full((count, size), -1, dtype=np.int64)
        rows = np.arange(count)
        for r in range(min(len(targets), size)):
            if targets[r] is None:
                continue
            want = np.asarray(targets[r], dtype=np.int64)[decisions]
            match = (permuted == want[:, None]) & free
            found = match.any(axis=1)
            where = match.argmax(axis=1)
            column[found, r] = want[found]
            free[rows[found], where[found]] = False
        for r in range(min(len(preferences), size)):
            if preferences[r] is None:
                continue
            open_rows = column[:, r] < 0
            if not open_rows.any():
                continue
            values = np.where(free, np.asarray(preferences[r])[decisions[:, None], permuted], -np.inf)
            where = values.argmax(axis=1)
            chosen = rows[open_rows]
            column[chosen, r] = permuted[chosen, where[open_rows]]
            free[chosen, where[open_rows]] = False
        # the rest: open slots in order take the free positions in order (both counts are equal per decision)
        open_r, open_s = np.nonzero(column < 0)
        free_r, free_p = np.nonzero(free)
        column[open_r, open_s] = permuted[free_r, free_p]
        return column

    def _round_shape(self, live: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, dict[int, np.ndarray], int]:
        """(live candidates per decision, reachable decisions, controller counts, R) of a live mask; the mask
        only changes at a stage end, so this is computed once per stage."""
        key = (live.shape, live.tobytes())
        if self._shape_key != key:
            live_sets = [np.flatnonzero(live[e]) for e in range(self.space.num_decisions)]
            reach = reachable_decisions(self.space, live)
            counts = controller_counts(self.space, live)
            self._shape = (live_sets, reach, counts, round_size(self.space, live))
            self._shape_key = key
        return self._shape

    def round_size(self, live: np.ndarray) -> int:
        """:func:`round_size` of ``live``, computed once per live mask."""
        return self._round_shape(np.asarray(live, dtype=bool))[3]

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
        live_sets, reach, counts, size = self._round_shape(live)
        for e, cands in enumerate(live_sets):
            if len(cands) == 0:
                raise ValueError(f"decision {space.decisions[e].name!r} has no live candidate left")
        for e, pool in enumerate(self.pools):
            if pool and not live[e, pool].all():
                self.pools[e] = [k for k in pool if live[e, k]]  # a pruned candidate is never drawn again
        slots = range(size)
        columns = np.full((space.num_decisions, size), -1, dtype=np.int64)
        for c, count in counts.items():
            required = [k for k in range(live.shape[1]) for _ in range(int(count[k]))]
            extra = self._draw_from_pool(c, live_sets[c], size - len(required))
            assigned = self._assign(c, required + extra, slots, targets, preferences)
            columns[c] = [assigned[r] for r in slots]
        # unconditional decisions: the same draws, in the same order, as one _assign each; then paired at once
        plain = np.array([e for e, d in enumerate(space.decisions) if d.requires is None and e not in counts],
                         dtype=np.int64)
        if len(plain):
            permuted = np.empty((len(plain), size), dtype=np.int64)
            for i, e in enumerate(plain.tolist()):
                extra = self._draw_from_pool(e, live_sets[e], size - len(live_sets[e]))
                permuted[i] = self.rng.permutation(np.asarray(live_sets[e].tolist() + extra, dtype=np.int64))
            if _finite(preferences, size):
                columns[plain] = self._assign_columns(permuted, targets, preferences, plain)
            else:  # ±inf or NaN preferences: the list semantics of _assign, slot by slot
                for i, e in enumerate(plain.tolist()):
                    assigned = self._assign_permuted(e, permuted[i].tolist(), slots, targets, preferences)
                    columns[e] = [assigned[r] for r in slots]
        for e, decision in enumerate(space.decisions):
            if decision.requires is None:
                continue
            parent, allowed = _allowed(space, e)
            active = [r for r in slots if columns[parent, r] in set(allowed.tolist())]
            column: dict[int, int] = {}
            if reach[e] and active:
                extra = self._draw_from_pool(e, live_sets[e], max(len(active) - len(live_sets[e]), 0))
                column = self._assign(e, live_sets[e].tolist() + extra, active, targets, preferences)
            for r in slots:
                if r not in column:  # inactive here: any live candidate, never credited
                    target = targets[r] if r < len(targets) else None
                    keep = target is not None and live[e, int(target[e])]
                    column[r] = int(target[e]) if keep else int(self.rng.choice(live_sets[e]))
            columns[e] = [column[r] for r in slots]
        return [tuple(row) for row in columns.T.tolist()]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "pools": [list(p) for p in self.pools]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.pools = [list(map(int, p)) for p in state["pools"]]
