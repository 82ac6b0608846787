"""Exact maximisation of a sum of per-group values under any number of additive budgets (ENG's engine).

Each group picks one option; option i of group g has value ``values[g][i]`` and costs ``costs[g][i, j]``.

- **No budget or one.** The exact suffix frontiers of :mod:`ddp_core.frontier` give the best completion of
  any partial choice, so a walk down the groups answers every budget of a list at once, vectorised.
- **Several budgets.** The Lagrangian dual of every row first (:mod:`ddp_core.lagrangian`): its bound, a first
  answer (the Lagrangian choice repaired to meet the budgets) or a proof that no choice meets them; only a
  row with neither goes to the exact probe (the cheapest choice in one cost that meets the other budgets, a
  problem with one budget fewer). Options whose reduced cost exceeds the row's gap are dropped, then the
  branch and bound of :mod:`ddp_core.branch_and_bound` runs on every row at once, bounded by the per-group
  Lagrangian maxima at multiples of the dual λ (O(1) per partial choice, nothing rebuilt). Problems with
  few choices are searched with the plain bound after the probe.
- **One budget and a predicate** (``accept``): the same branch and bound, bounded by the exact frontiers.
- A time limit returns the best choice found so far, flagged ``proven_optimal=False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ddp_core import lagrangian
from ddp_core.branch_and_bound import Cut, search
from ddp_core.frontier import FrontierStack, suffix_frontiers
from ddp_core.infeasibility import InfeasibleBudgetError, budget_text, infeasible_message

FRONTIER_CAP = 4096  # frontier points kept before coarsening
FEW_ROWS = 8  # one budget: at most this many rows of a call may skip building the exact frontier...
WIDE = 512  # ... when the problem has at least this many options in all
SMALL = 1 << 16  # choices few enough to search without Lagrangian bounds (two budgets or more)
TOLERANCE = 1e-9


@dataclass
class GroupAnswer:
    """The answer to one budget row: a choice per group, or why there is none.

    ``costs`` and ``smallest`` include the problem's ``offset``. For an infeasible row, ``smallest[j]`` is the
    smallest achievable cost j among choices that meet the row's *other* budgets, or of any choice when no
    choice meets those (NaN when unknown: not budgeted, or not decided within the time limit; inf when
    ``accept`` rejects every choice meeting the others).
    """

    budgets: np.ndarray
    choice: tuple[int, ...] | None
    value: float
    costs: np.ndarray | None
    proven_optimal: bool
    message: str | None = None
    smallest: np.ndarray | None = None
    smallest_alone: np.ndarray | None = None  # True where ``smallest`` is of cost j alone (others unmeetable)

    @property
    def feasible(self) -> bool:
        return self.choice is not None


def _slack(budget: np.ndarray | float) -> np.ndarray | float:
    """Rounding room of a budget (sums of floats may exceed it by a few ulps)."""
    return TOLERANCE * np.maximum(1.0, np.abs(budget))


class GroupProblem:
    """One exact group-knapsack problem, answered for any number of budget rows.

    Parameters
    ----------
    values : per group, the value of each option
    costs : per group, an (n_options, n_costs) array
    names : cost names for messages
    offset : (n_costs,) a fixed part added to every choice's costs (budgets and messages include it)
    accept : optional extra feasibility test of a complete choice (non-additive constraints)
    cap : frontier points kept before coarsening
    """

    def __init__(self, values: Sequence[Sequence[float]], costs: Sequence[np.ndarray], names: Sequence[str] | None = None,
                 offset: Sequence[float] | None = None, accept: Callable[[tuple[int, ...]], bool] | None = None,
                 cap: int = FRONTIER_CAP) -> None:
        vals = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
        if any(len(v) == 0 for v in vals):
            raise ValueError("every group needs at least one option")
        known = len(offset) if offset is not None else len(names) if names is not None else None
        width = np.asarray(costs[0]).size // len(vals[0]) if vals else (known or 0)
        cost = [np.asarray(c, dtype=np.float64).reshape(len(v), width) for c, v in zip(costs, vals, strict=True)]
        if not all(np.all(np.isfinite(v)) for v in vals) or not all(np.all(np.isfinite(c)) for c in cost):
            raise ValueError("option values and costs must be finite numbers")
        self.width = width
        self.names = list(names) if names is not None else [f"cost{j}" for j in range(width)]
        self.offset = np.zeros(width) if offset is None else np.asarray(offset, dtype=np.float64).reshape(width)
        if len(self.names) != width:
            raise ValueError(f"{len(self.names)} names for {width} cost columns")
        self.accept, self.cap = accept, cap
        # branch first on the groups whose choice matters most: bad partial choices are cut early
        self.order = sorted(range(len(vals)), key=lambda g: -np.ptp(vals[g]))
        self.values = [vals[g] for g in self.order]
        self.costs = [cost[g] for g in self.order]
        self.free = np.zeros(len(vals) + 1)
        self.cheapest = np.zeros((len(vals) + 1, width))  # suffix sums of each column's smallest cost
        for g in range(len(vals) - 1, -1, -1):
            self.free[g] = self.free[g + 1] + self.values[g].max()
            self.cheapest[g] = self.cheapest[g + 1] + self.costs[g].min(axis=0)
        self._plain: dict[int, tuple[list, list, bool]] = {}
        self._stacks: dict[tuple[int, ...], FrontierStack] = {}
        self._references: dict[int, GroupProblem] = {}
        self._tables: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def solve(self, budgets: Sequence[float], time_limit_s: float | None = None) -> GroupAnswer:
        """The answer for one budget row (``inf`` = that cost is not budgeted)."""
        return self.solve_many([budgets], time_limit_s)[0]

    def solve_many(self, rows: Sequence[Sequence[float]] | np.ndarray,
                   time_limit_s: float | None = None) -> list[GroupAnswer]:
        """Answers for each budget row; an infeasible row is an answer with a message, never an exception.

        ``time_limit_s`` bounds the whole call: rows not proven by then keep the best choice found so far,
        flagged ``proven_optimal=False``.
        """
        rows = np.asarray(rows, dtype=np.float64)
        rows = rows.reshape(len(rows), self.width) if rows.ndim == 2 else rows.reshape(-1, self.width)
        if np.isnan(rows).any() or np.isneginf(rows).any():
            raise ValueError("a budget is NaN or -inf; give a number (inf = not budgeted)")
        deadline = None if time_limit_s is None else time.perf_counter() + time_limit_s
        found: list[tuple | None] = [None] * len(rows)  # (choice, value, proven)
        batches: dict[tuple[tuple[int, ...], bool], list[int]] = {}
        smallest_alone = self.offset + self.cheapest[0]
        for r, row in enumerate(rows):
            budgeted = tuple(int(j) for j in np.flatnonzero(np.isfinite(row)))
            if any(row[j] < smallest_alone[j] - _slack(row[j]) for j in budgeted):
                found[r] = (None, -np.inf, True)
            elif not self.values:  # nothing to choose: the fixed part alone
                found[r] = ((), 0.0, True) if self.accept is None or self.accept(()) else (None, -np.inf, True)
            else:
                batches.setdefault(budgeted, []).append(r)
        for budgeted, indices in batches.items():
            if self.accept is None and not budgeted:
                solver = self._walk
            elif self.accept is None and len(budgeted) == 1 and self._walks(budgeted[0], len(indices)):
                solver = self._walk
            else:
                solver = self._branch_and_bound
            for r, result in zip(indices, solver(rows[indices], budgeted, deadline), strict=True):
                found[r] = result
        answers: list[GroupAnswer | None] = [None] * len(rows)
        for r, (choice, value, proven) in enumerate(found):  # type: ignore[misc]
            if choice is not None:
                spent = self.offset + sum((self.costs[p][choice[g]] for p, g in enumerate(self.order)),
                                          np.zeros(self.width))
                answers[r] = GroupAnswer(rows[r].copy(), choice, float(value), spent, proven)
        missing = [r for r in range(len(rows)) if answers[r] is None]
        for r, answer in zip(missing, self._infeasible(rows[missing], [found[r][2] for r in missing], deadline),
                             strict=True):
            answers[r] = answer
        return answers  # type: ignore[return-value]

    # ------------------------------------------------------------------ pieces
    def _plain_frontier(self, j: int) -> tuple[list, list, bool]:
        if j not in self._plain:
            self._plain[j] = suffix_frontiers(self.values, [c[:, j] for c in self.costs], self.cap)
        return self._plain[j]

    def _walks(self, j: int, rows: int) -> bool:
        """One budget: walk down the exact frontiers (built once, then every row costs a walk), unless a few
        rows on a wide problem are answered sooner by the Lagrangian branch and bound than by building them."""
        if j not in self._plain and rows <= FEW_ROWS and sum(len(v) for v in self.values) >= WIDE:
            return False
        return self._plain_frontier(j)[2]

    def _stack(self, budgeted: tuple[int, ...]) -> FrontierStack:
        if budgeted not in self._stacks:
            plain = [self._plain_frontier(j)[:2] for j in budgeted]
            self._stacks[budgeted] = FrontierStack.build(len(self.values), plain)
        return self._stacks[budgeted]

    def _reference(self, j: int) -> GroupProblem:
        """The cheapest choice in cost j that meets the other budgets (and ``accept``): values -cost_j."""
        if j not in self._references:
            costs: list[np.ndarray] = [np.zeros(0)] * len(self.costs)
            for position, g in enumerate(self.order):
                costs[g] = self.costs[position]
            self._references[j] = GroupProblem([-c[:, j] for c in costs], costs, self.names, self.offset,
                                               self.accept, self.cap)
        return self._references[j]

    def _unpermute(self, picks: Sequence[int]) -> tuple[int, ...]:
        out = [0] * len(picks)
        for position, g in enumerate(self.order):
            out[g] = int(picks[position])
        return tuple(out)

    def _walk(self, rows: np.ndarray, budgeted: tuple[int, ...], deadline: float | None) -> list[tuple]:
        """Exact answers of rows with at most one budget, walking down the exact suffix frontiers."""
        picks = np.zeros((len(rows), len(self.values)), dtype=np.int64)
        total = np.zeros(len(rows))
        if budgeted:
            j = budgeted[0]
            fc, fv, _ = self._plain_frontier(j)
            left = rows[:, j] - self.offset[j] + _slack(rows[:, j])
        for g in range(len(self.values)):
            if budgeted:
                idx = fc[g + 1].searchsorted(left[:, None] - self.costs[g][None, :, j], side="right") - 1
                score = np.where(idx >= 0, fv[g + 1][np.maximum(idx, 0)], -np.inf) + self.values[g][None, :]
                picks[:, g] = np.argmax(score, axis=1)
                left = left - self.costs[g][picks[:, g], j]
            else:
                picks[:, g] = np.argmax(self.values[g])
            total += self.values[g][picks[:, g]]
        return [(self._unpermute(p), float(t), True) for p, t in zip(picks, total, strict=True)]

    def _padded(self, cols: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if cols not in self._tables:
            self._tables[cols] = lagrangian.padded(self.values, self.costs, list(cols))
        return self._tables[cols]

    def _first_answers(self, rows: np.ndarray, cols: list[int], limit: np.ndarray, best_value: np.ndarray,
                       best_picks: np.ndarray, active: np.ndarray, proven: np.ndarray,
                       deadline: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Two budgets or more: the Lagrangian dual of every row, a first answer (repaired Lagrangian choice),
        rows the dual proves infeasible; the exact probe only for rows where no first answer was found.
        Returns the dual λ (R, B), each row's rounding room of the bounds, the group order of the search and
        per row the (G, K) options that may still improve on its first answer (or are in it)."""
        table, spend = self._padded(tuple(cols))
        lam, bound, known_picks, known = lagrangian.dual(table, spend, limit)
        finite = np.isfinite(table)
        tol = 1e-9 * (1.0 + np.abs(table[finite]).sum()
                      + (lam * (np.abs(limit) + np.abs(spend).sum(axis=(0, 1))[None, :])).sum(axis=1))
        lowest = np.where(finite, table, np.inf).min(axis=1).sum()
        active &= bound >= lowest - tol  # L(λ) below every choice's value: no choice meets the budgets
        undecided = []
        for r in np.flatnonzero(active):
            start = np.argmax(table - spend @ lam[r], axis=1)
            tried = [lagrangian.repair(table, spend, limit[r], start)]
            tried += [known_picks[r]] if np.isfinite(known[r]) else []
            for picks in tried:
                value = float(table[np.arange(len(table)), picks].sum()) if picks is not None else -np.inf
                if value > best_value[r] and (self.accept is None or self.accept(self._unpermute(picks))):
                    best_value[r], best_picks[r] = value, picks
            if not np.isfinite(best_value[r]):
                undecided.append(r)
        self._probe(rows, cols, undecided, best_value, best_picks, active, proven, deadline)
        # reduced-cost fixing: an option that costs the bound more than its row's gap cannot beat the first
        # answer in any row; the search branches first on the groups with the fewest options left
        useful = lagrangian.reduced_costs(table, spend, lam) <= (bound - best_value + tol)[:, None, None]
        useful &= active[:, None, None]
        useful[np.flatnonzero(active)[:, None], np.arange(len(table))[None, :], best_picks[active]] = True
        # (over the rows of a batch, by the product of the counts: one row with many options left must not
        # decide the order of every other row)
        counts = np.log(np.maximum(useful[active].sum(axis=2), 1)).sum(axis=0)
        return lam, tol, np.argsort(counts, kind="stable"), useful

    def _probe(self, rows: np.ndarray, cols: list[int], indices: Sequence[int], best_value: np.ndarray,
               best_picks: np.ndarray, active: np.ndarray, proven: np.ndarray, deadline: float | None) -> None:
        """Decide feasibility of rows ``indices`` exactly: the cheapest choice in one cost that meets the
        others (a problem with one budget fewer) is a first answer, or proves the row infeasible."""
        if not len(indices):
            return
        probe_rows = rows[list(indices)].copy()
        probe_rows[:, cols[0]] = np.inf
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
        for r, probe in zip(indices, self._reference(cols[0]).solve_many(probe_rows, remaining), strict=True):
            if probe.feasible and probe.costs[cols[0]] <= rows[r, cols[0]] + _slack(rows[r, cols[0]]):
                best_picks[r] = [probe.choice[g] for g in self.order]
                best_value[r] = sum(v[k] for v, k in zip(self.values, best_picks[r], strict=True))
            else:
                active[r], proven[r] = False, probe.proven_optimal

    def _branch_and_bound(self, rows: np.ndarray, budgeted: tuple[int, ...], deadline: float | None) -> list[tuple]:
        """(choice or None, value, proven) per row; all rows share the batches of the search."""
        cols, groups, n_rows = list(budgeted), len(self.values), len(rows)
        limit = rows[:, cols] - self.offset[cols] + _slack(rows[:, cols])
        best_value = np.full(n_rows, -np.inf)
        best_picks = np.zeros((n_rows, groups), dtype=np.int64)
        active = np.ones(n_rows, dtype=bool)
        proven = np.ones(n_rows, dtype=bool)
        perm, cuts, masks = np.arange(groups), [], None
        kept = [np.arange(len(v)) for v in self.values]  # per group, the options searched
        lagrange = len(cols) >= 2 or (len(cols) == 1 and self.accept is None and cols[0] not in self._plain)
        if len(cols) >= 2 and np.prod([float(len(v)) for v in self.values]) <= SMALL:
            # few choices: the plain bound is enough, after the exact probe decides feasibility
            self._probe(rows, cols, range(n_rows), best_value, best_picks, active, proven, deadline)
        elif lagrange:
            lam, tol, perm, useful = self._first_answers(rows, cols, limit, best_value, best_picks, active, proven,
                                                         deadline)
            if not active.any():  # every row proven infeasible
                return [(None, -np.inf, bool(proven[r])) for r in range(n_rows)]
            table, spend = self._padded(tuple(cols))
            lams = lagrangian.families(lam)
            maxima = lagrangian.suffix_maxima(table[perm], spend[perm], lams)
            kept = [np.flatnonzero(useful[:, g].any(axis=0)) for g in range(groups)]
            kept = [k if len(k) else np.array([int(np.argmax(self.values[g]))]) for g, k in enumerate(kept)]
            for r in np.flatnonzero(active):
                best_picks[r] = [np.searchsorted(kept[g], best_picks[r, g]) for g in range(groups)]
            best_picks = best_picks[:, perm]
            masks = [useful[:, p][:, kept[p]] for p in perm]  # (R, options searched) per position

            def lagrangian_cut(family: slice) -> Cut:
                def cut(g: int, at: np.ndarray, left: np.ndarray) -> np.ndarray:
                    if n_rows == 1:
                        bound = maxima[0, family, g][None, :] + left @ lams[0, family].T
                    else:
                        bound = maxima[at, family, g] + np.einsum("nb,nfb->nf", left, lams[at, family])
                    return bound.min(axis=1) + tol[at]
                return cut

            # the dual λ alone first (a cheap cut: most children fail it), then the least over its multiples
            cuts = [lagrangian_cut(slice(0, 1)), lagrangian_cut(slice(None))]
        elif cols:
            stack_ = self._stack(budgeted)
            # the family that bounds each row best at the root first (a cheap cut), then every family
            root = stack_.best_at_root(limit)
            cuts = [lambda g, at, left: stack_.each(g, left, root[at]).min(axis=1),
                    lambda g, at, left: stack_.each(g, left, np.arange(len(stack_.kept))).min(axis=1)]
        kept = [kept[p] for p in perm]

        def ordered(picks: np.ndarray) -> tuple[int, ...]:
            out = np.empty_like(picks)
            out[perm] = [kept[g][k] for g, k in enumerate(picks)]
            return self._unpermute(out)

        search([self.values[p][kept[g]] for g, p in enumerate(perm)],
               [self.costs[p][kept[g]][:, cols] for g, p in enumerate(perm)], limit, cuts, best_value, best_picks,
               proven, np.flatnonzero(active), deadline,
               None if self.accept is None else lambda picks: self.accept(ordered(picks)), masks)
        return [(ordered(best_picks[r]), float(best_value[r]), bool(proven[r]))
                if np.isfinite(best_value[r]) else (None, -np.inf, bool(proven[r])) for r in range(n_rows)]

    def _infeasible(self, rows: np.ndarray, decided: Sequence[bool], deadline: float | None) -> list[GroupAnswer]:
        """Why each row has no answer: per budgeted cost, the smallest reachable with the other budgets met
        (the reference problems answer all rows with the same budgeted costs in one call)."""
        smallest = np.full(rows.shape, np.nan)
        alone = np.zeros(rows.shape, dtype=bool)
        known = np.zeros(rows.shape, dtype=bool)  # smallest[r, j] decided (or not to be decided)
        for r, row in enumerate(rows):
            budgeted = np.flatnonzero(np.isfinite(row))
            if len(budgeted) == 1 and self.accept is None:
                j = budgeted[0]
                smallest[r, j], known[r, j] = self.offset[j] + self.cheapest[0, j], True
        for j in range(self.width):
            asked = [r for r in range(len(rows)) if decided[r] and np.isfinite(rows[r, j]) and not known[r, j]]
            if not asked:
                continue
            others = rows[asked].copy()
            others[:, j] = np.inf
            remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            for r, answer in zip(asked, self._reference(j).solve_many(others, remaining), strict=True):
                if answer.feasible:
                    smallest[r, j] = self.offset[j] - answer.value if answer.proven_optimal else np.nan
                elif answer.proven_optimal and self.accept is None:  # the others cannot be met: cost j alone
                    smallest[r, j], alone[r, j] = self.offset[j] + self.cheapest[0, j], True
                elif answer.proven_optimal:
                    smallest[r, j] = np.inf
        out = []
        for r, row in enumerate(rows):
            if not decided[r]:
                out.append(GroupAnswer(row.copy(), None, -np.inf, None, False,
                                       f"no architecture with {budget_text(self.names, row)} was found within the "
                                       "time limit (infeasibility not proven); allow more time or relax a budget"))
            else:
                out.append(GroupAnswer(row.copy(), None, -np.inf, None, True,
                                       infeasible_message(self.names, row, smallest[r], alone[r]),
                                       smallest[r].copy(), alone[r].copy()))
        return out


def solve_groups(
    values: Sequence[Sequence[float]],
    costs: Sequence[np.ndarray],
    budgets: Sequence[float],
    names: Sequence[str] | None = None,
    accept: Callable[[tuple[int, ...]], bool] | None = None,
    cap: int = FRONTIER_CAP,
    *,
    offset: Sequence[float] | None = None,
    time_limit_s: float | None = None,
) -> tuple[tuple[int, ...], float]:
    """Pick one option per group maximising the total value with ``offset + sum of costs <= budgets``.

    Returns ``(choice, value)``; raises :class:`InfeasibleBudgetError` (naming the smallest achievable cost)
    when no choice meets every budget. For many budget rows, proof flags and per-row infeasibility, use
    :class:`GroupProblem`.
    """
    budgets = np.asarray(budgets, dtype=np.float64).reshape(-1)
    if not len(values):
        return (), 0.0
    sizes = [np.asarray(v).size for v in values]
    arrays = [np.asarray(c, dtype=np.float64) for c in costs]
    if any(c.size != size * len(budgets) for c, size in zip(arrays, sizes, strict=True)):
        raise ValueError("every cost array needs one row per option and one column per budget")
    arrays = [c.reshape(size, len(budgets)) for c, size in zip(arrays, sizes, strict=True)]
    answer = GroupProblem(values, arrays, names, offset, accept, cap).solve(budgets, time_limit_s)
    if not answer.feasible:
        raise InfeasibleBudgetError(answer.message)
    return answer.choice, answer.value
