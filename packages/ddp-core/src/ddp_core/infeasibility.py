"""Saying why budgets cannot be met: the error ENG raises and the one-line message it reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class InfeasibleBudgetError(ValueError):
    """No architecture meets the budgets; the message names the smallest achievable cost."""


def budget_text(names: Sequence[str], row: Sequence[float], budgeted: Sequence[int] | None = None) -> str:
    budgeted = [j for j in range(len(row)) if np.isfinite(row[j])] if budgeted is None else budgeted
    return " and ".join(f"{names[j]} <= {row[j]:g}" for j in budgeted) or "no budget"


def infeasible_message(names: Sequence[str], row: Sequence[float], smallest: Sequence[float],
                       alone: Sequence[bool] | None = None) -> str:
    """One line: which budgets cannot be met together, and the smallest achievable value of each (with the
    other budgets met, or on its own where ``alone``: no choice meets the others)."""
    budgeted = [j for j in range(len(row)) if np.isfinite(row[j])]
    alone = np.zeros(len(row), dtype=bool) if alone is None else alone
    parts = []
    for j in budgeted:
        others = budget_text(names, row, [k for k in budgeted if k != j])
        condition = f" with {others}" if len(budgeted) > 1 and not alone[j] else ""
        if np.isnan(smallest[j]):
            parts.append(f"the smallest achievable {names[j]}{condition} was not found within the time limit")
        elif np.isfinite(smallest[j]):
            parts.append(f"the smallest achievable {names[j]}{condition} is {smallest[j]:g}")
        else:
            parts.append(f"no architecture meets {others} at all" if len(budgeted) > 1 else
                         "no architecture passes the extra constraints at all")
    advice = "raise the budget to at least that" if len(budgeted) == 1 else "raise a budget to at least that"
    return f"no architecture has {budget_text(names, row, budgeted)}: " + "; ".join(parts) + f"; {advice}"
