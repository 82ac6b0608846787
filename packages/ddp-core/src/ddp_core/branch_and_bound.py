"""The branch and bound of ENG's group knapsack, over batches of partial choices of every budget row at once.

Groups are taken in a fixed order; a partial choice of groups 0..g-1 is a row, its value and its spent budget.
Its children (one per option of group g) survive when the cheapest completion still fits the row's budgets and
an upper bound on their best completion beats the row's best answer. Bounds come from the caller as *cuts*,
cheapest first (most children fail the first). A narrow dive comes first (the best few children of each row at
every level): a good first answer makes every later bound test sharp. Then depth first, best bound first,
each batch diving on every row at once; a time limit stops it and marks the rows left unproven.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

BEAM = 16  # partial choices per row kept by the first dive
CHUNK = 1 << 15  # partial choices x options expanded at once

# cut(g, rows, left): for children with budget ``left`` (n, B) after groups 0..g-1, an upper bound (n,) on the
# value groups g.. can add
Cut = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def search(values: Sequence[np.ndarray], costs: Sequence[np.ndarray], limit: np.ndarray, cuts: Sequence[Cut],
           best_value: np.ndarray, best_picks: np.ndarray, proven: np.ndarray, rows: np.ndarray,
           deadline: float | None, accept: Callable[[np.ndarray], bool] | None = None,
           masks: Sequence[np.ndarray] | None = None) -> None:
    """Improve ``best_value`` / ``best_picks`` (R,) / (R, G) of ``rows`` in place; ``proven[r]`` turns False
    where the time limit left row r unexplored.

    ``values[g]`` (options,) and ``costs[g]`` (options, B) per group in search order, ``limit`` (R, B) the budgets
    (a choice fits when its costs sum to at most them), ``accept`` a test of a complete choice, ``masks[g]``
    (R, options) the options each row may take (all when None).
    """
    groups, width = len(values), limit.shape[1]
    free = np.r_[np.cumsum([v.max() for v in values][::-1])[::-1], 0.0]
    floor = np.zeros((groups + 1, width))
    floor[:groups] = np.cumsum(np.array([c.min(axis=0) for c in costs]).reshape(groups, width)[::-1], axis=0)[::-1]
    eps = 1e-12 * max(1.0, float(np.abs(free[0])))

    def expand(g, row, value, spent, picks, upper, per_row):
        """Children of a batch of partial choices that are feasible and may beat their row's best."""
        if masks is not None:
            parent, option = np.nonzero(masks[g][row])
            new_value, new_spent, new_row = value[parent] + values[g][option], spent[parent] + costs[g][option], row[parent]
        else:
            new_value = (value[:, None] + values[g][None, :]).ravel()
            new_spent = (spent[:, None, :] + costs[g][None, :, :]).reshape(len(new_value), width)
            new_row = np.repeat(row, len(values[g]))
            parent, option = np.divmod(np.arange(len(new_value)), len(values[g]))
        left = limit[new_row] - new_spent
        ok = np.flatnonzero(np.all(left >= floor[g + 1][None, :], axis=1))
        upper = new_value[ok] + free[g + 1]
        for cut in cuts if g + 1 < groups else ():
            good = upper > best_value[new_row[ok]] + eps
            ok, upper = ok[good], upper[good]
            upper = np.minimum(upper, new_value[ok] + cut(g + 1, new_row[ok], left[ok]))
        good = upper > best_value[new_row[ok]] + eps
        ok, upper = ok[good], upper[good]
        order = np.lexsort((-upper, new_row[ok]))  # by row, best bound first
        ok, upper = ok[order], upper[order]
        sorted_rows = new_row[ok]
        rank = np.arange(len(ok)) - np.searchsorted(sorted_rows, sorted_rows, side="left")
        # the beam keeps the best few children of each row; the search takes every row's best child first,
        # then every row's second best, ...: each batch dives on every row at once
        order = np.flatnonzero(rank < per_row) if per_row else np.lexsort((sorted_rows, rank))
        ok, upper = ok[order], upper[order]
        picks = np.concatenate([picks[parent[ok]], option[ok, None]], axis=1)
        if g + 1 < groups:
            return g + 1, new_row[ok], new_value[ok], new_spent[ok], picks, upper
        leaves(new_row[ok], upper, picks)
        return None

    def leaves(row, value, picks):
        """Complete choices, best first: the first accepted one of each row is its best."""
        done = set()
        for i in np.argsort(-value, kind="stable"):
            r = int(row[i])
            if r in done or value[i] <= best_value[r] + eps:
                continue
            if accept is None or accept(picks[i]):
                best_value[r], best_picks[r] = value[i], picks[i]
                done.add(r)

    state = (0, rows, np.zeros(len(rows)), np.zeros((len(rows), width)), np.zeros((len(rows), 0), dtype=np.int64),
             np.full(len(rows), np.inf))
    beam = state
    while beam is not None and len(beam[1]):
        beam = expand(*beam, BEAM)
    stack = [state]
    while stack:
        if deadline is not None and time.perf_counter() > deadline:
            for entry in stack:
                proven[entry[1]] = False
            break
        g, row, value, spent, picks, upper = stack.pop()
        live = upper > best_value[row] + eps
        row, value, spent, picks, upper = row[live], value[live], spent[live], picks[live], upper[live]
        size = max(1, CHUNK // len(values[g]))
        if len(row) > size:  # split, best bounds on top of the stack
            for first in range(((len(row) - 1) // size) * size, -1, -size):
                part = slice(first, first + size)
                stack.append((g, row[part], value[part], spent[part], picks[part], upper[part]))
        elif len(row):
            child = expand(g, row, value, spent, picks, upper, None)
            if child is not None and len(child[1]):
                stack.append(child)
