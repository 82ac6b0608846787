"""Count constraints inside the branch-and-bound bound of :mod:`ddp_core.recommend`.

The bound of a partial assignment is a relaxation over the unassigned ("tail") decisions: each takes its best
option, with budgets priced by Lagrangian multipliers (one row per multiplier vector). Without the counts, a
DARTS node would let every incoming edge take its best op, and the search would not finish. Here:

- counts over disjoint decisions (the DARTS rule: one per node) are kept exactly: per decision the best counted
  and the best other option, and the best number of counted ones in range;
- a count over whole disjoint groups (N non-parametric ops over a DARTS cell's nodes) is kept exactly too: per
  group the best value for each (own count, outer count), combined over the groups by max-plus convolution;
- any other count enters through a multiplier on its counted options: for x with count S >= low,
  value <= value + mu (S - low); with S <= high, value <= value - mu (S - high);
- the cheapest completion under the counts is checked against each budget (the costs' own cheapest-rest test
  ignores the counts, and a budget just below what the counts allow would take the whole time limit).
"""

from __future__ import annotations

import numpy as np


class CountBound:
    """The counts of one problem (``(positions mask, counted-option mask, low, high)`` per constraint, positions
    over the branching order, options laid out from ``starts``)."""

    def __init__(self, value: np.ndarray, costs: np.ndarray, starts: np.ndarray, counts: list, depth: int) -> None:
        self.costs, self.starts, self.counts = costs, starts, counts
        self.disjoint, taken = [], np.zeros(depth, dtype=bool)
        for c, (positions, _, low, high) in enumerate(counts):
            if positions.any() and not (positions & taken).any():
                taken |= positions
                self.disjoint.append((c, np.flatnonzero(positions), low, high))
        self.counted_any = np.zeros(len(value), dtype=bool)
        for c, _, _, _ in self.disjoint:
            self.counted_any |= counts[c][1]
        self.nested, self.others = [], []
        claimed: set[int] = set()
        for c, (positions, counted, _, _) in enumerate(counts):
            if not positions.any() or c in {d for d, _, _, _ in self.disjoint}:
                continue
            members = [entry for entry in self.disjoint if positions[entry[1]].all()]
            crossing = any(positions[entry[1]].any() and not positions[entry[1]].all() for entry in self.disjoint)
            if crossing or any(entry[0] in claimed for entry in members):
                self.others.append((c, counted, positions))
                continue
            claimed |= {entry[0] for entry in members}
            grouped = np.zeros(depth, dtype=bool)
            for entry in members:
                grouped[entry[1]] = True
            self.nested.append((c, members, np.flatnonzero(positions & ~grouped)))
        scale = float(np.ptp(value)) if len(value) else 0.0
        self.multipliers = [scale * f for f in (0.01, 0.03, 0.1, 0.3, 1.0)] if scale > 0 else []
        self._group_value: dict[int, np.ndarray] = {}

    def evaluate(self, relaxed: np.ndarray, at: np.ndarray, t: int, used: list[int]) -> np.ndarray | None:
        """Per row of ``relaxed`` (the tail's option values): the maximum over the tail under the disjoint and
        nested counts (None: they cannot be met). ``at``: where each tail decision's options start."""
        starts = self.starts
        maxima = np.maximum.reduceat(relaxed, at, axis=1)
        totals = maxima.sum(axis=1)
        if not (self.disjoint and np.isfinite(totals).all()):
            return totals
        mark = self.counted_any[starts[t]:]
        inside = np.maximum.reduceat(np.where(mark, relaxed, -np.inf), at, axis=1)
        outside = np.maximum.reduceat(np.where(mark, -np.inf, relaxed), at, axis=1)
        for c, positions, low, high in self.disjoint:
            columns = positions[positions >= t] - t
            if not len(columns):
                continue
            ins, outs = inside[:, columns], outside[:, columns]
            # which options fit does not depend on the multipliers: forced sides are the same in every row
            forced_in, forced_out = ~np.isfinite(outs[0]), ~np.isfinite(ins[0])
            free = ~forced_in & ~forced_out
            need_low = max(low - used[c] - int(forced_in.sum()), 0)
            need_high = min(high - used[c] - int(forced_in.sum()), int(free.sum()))
            if need_low > need_high:
                return None
            gain = -np.sort(-(ins[:, free] - outs[:, free]), axis=1)
            chosen = np.concatenate([np.zeros((len(gain), 1)), np.cumsum(gain, axis=1)], axis=1)
            group = (ins[:, forced_in].sum(axis=1) + outs[:, ~forced_in].sum(axis=1)
                     + chosen[:, need_low:need_high + 1].max(axis=1))
            totals = totals - maxima[:, columns].sum(axis=1) + group
            self._group_value[c] = group
        for c, members, singles in self.nested:
            totals = self._nested(relaxed, at, t, used, maxima, totals, c, members, singles)
            if totals is None:
                return None
        return totals

    def _nested(self, relaxed, at, t, used, maxima, totals, c, members, singles):
        """``totals`` with the groups inside count ``c`` (and its other decisions) replaced by their exact best
        under both their own counts and ``c``'s (None: ``c`` cannot be met)."""
        counts, starts = self.counts, self.starts
        mark = counts[c][1][starts[t]:]
        parts, replaced = [], np.zeros(len(relaxed))
        for d, positions, low, high in members:
            columns = positions[positions >= t] - t
            if not len(columns):
                continue
            own = counts[d][1][starts[t]:]
            best = {(a, b): np.maximum.reduceat(np.where((own == bool(a)) & (mark == bool(b)), relaxed, -np.inf),
                                                at, axis=1)[:, columns] for a in (0, 1) for b in (0, 1)}
            size = len(columns)
            table = np.full((len(relaxed), size + 1, size + 1), -np.inf)  # (row, own count, outer count)
            table[:, 0, 0] = 0.0
            for i in range(size):
                grown = np.full_like(table, -np.inf)
                for (a, b), values in best.items():
                    grown[:, a:, b:] = np.maximum(grown[:, a:, b:], table[:, :size + 1 - a, :size + 1 - b]
                                                  + values[:, i, None, None])
                table = grown
            need_low, need_high = max(low - used[d], 0), min(high - used[d], size)
            if need_low > need_high:
                return None
            parts.append(table[:, need_low:need_high + 1, :].max(axis=1))
            replaced += self._group_value[d]
        for position in singles[singles >= t]:
            column = position - t
            end = at[column + 1] if column + 1 < len(at) else relaxed.shape[1]
            block, inside = relaxed[:, at[column]:end], mark[at[column]:end]
            parts.append(np.stack([np.where(inside, -np.inf, block).max(axis=1),
                                   np.where(inside, block, -np.inf).max(axis=1)], axis=1))
            replaced += maxima[:, column]
        if not parts:
            return totals
        combined = parts[0]
        for part in parts[1:]:  # max-plus convolution over the outer count
            out = np.full((len(relaxed), combined.shape[1] + part.shape[1] - 1), -np.inf)
            for i in range(combined.shape[1]):
                out[:, i:i + part.shape[1]] = np.maximum(out[:, i:i + part.shape[1]], combined[:, i:i + 1] + part)
            combined = out
        need_low = max(counts[c][2] - used[c], 0)
        need_high = min(counts[c][3] - used[c], combined.shape[1] - 1)
        if need_low > need_high:
            return None
        return totals - replaced + combined[:, need_low:need_high + 1].max(axis=1)

    def _sides(self, c: int, t: int, used: list[int], positions: np.ndarray) -> list[tuple[float, int]]:
        """(sign, target) of each side of count ``c``'s range that some completion could break."""
        remaining = int(positions[t:].sum())
        low, high = self.counts[c][2] - used[c], self.counts[c][3] - used[c]
        return [(sign, target) for sign, target in ((1.0, low), (-1.0, high))
                if remaining and not ((sign > 0 and low <= 0) or (sign < 0 and high >= remaining))]

    def cheapest_fits(self, t: int, fits: np.ndarray, at: np.ndarray, used: list[int], left: np.ndarray) -> bool:
        """False when the cheapest completion that meets the counts costs more than ``left`` of some budget."""
        starts = self.starts
        for j in np.flatnonzero(np.isfinite(left)):
            span = float(np.ptp(self.costs[:, j])) or 1.0
            shifts, offsets = [np.zeros(len(fits))], [0.0]
            for c, counted, positions in self.others:
                for sign, target in self._sides(c, t, used, positions):
                    for factor in (0.03, 0.1, 0.3, 1.0, 3.0):
                        mu = sign * factor * span
                        shifts.append(mu * counted[starts[t]:])
                        offsets.append(mu * target)
            # per row: max of (-cost + mu * count) under the disjoint counts, minus mu * target, bounds -cost
            negative = np.where(fits, -self.costs[starts[t]:, j], -np.inf)
            found = self.evaluate(negative[None, :] + np.asarray(shifts), at, t, used)
            if found is None or -float((found - np.asarray(offsets)).min()) > left[j] + 1e-9:
                return False
        return True

    def with_multipliers(self, relaxed: np.ndarray, at: np.ndarray, t: int, used: list[int], slack: np.ndarray,
                         value: float, prune_at: float) -> float:
        """``value`` tightened by multipliers on the other counts (every multiplier with every budget row, in one
        evaluation per count); stops once it is at most ``prune_at``."""
        for c, counted, positions in self.others:
            sides = self._sides(c, t, used, positions)
            if not sides or not self.multipliers:
                continue
            shifts = np.array([sign * mu for sign, _ in sides for mu in self.multipliers])
            targets = np.array([target for _, target in sides for _ in self.multipliers], dtype=np.float64)
            stacked = (relaxed[None, :, :] + shifts[:, None, None] * counted[self.starts[t]:][None, None, :]).reshape(
                -1, relaxed.shape[1])
            shifted = self.evaluate(stacked, at, t, used)
            if shifted is None:
                return -np.inf
            values = shifted.reshape(len(shifts), -1) + slack[None, :] - (shifts * targets)[:, None]
            value = min(value, float(values.min()))
            if value <= prune_at + 1e-12:
                return value
        return value
