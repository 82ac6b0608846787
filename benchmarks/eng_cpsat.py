"""OR-tools CP-SAT models of ENG's instances, for benchmarks/core_engine.py (a bench dependency only).

Every instance is integer-scaled before either solver sees it: θ values and costs are integers (held as float64
by ddp-core, where sums of integers below 2^53 are exact), so both solvers answer the same problem and their
optima are compared exactly. CP-SAT runs with one worker; its time is the process CPU time of building the
model and solving it (what a caller pays), and ``solve_s`` is CP-SAT's own user time for the solve alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from ortools.sat.python import cp_model


def _solve(model: cp_model.CpModel, started: float) -> tuple[int | None, float, float, cp_model.CpSolver]:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    status = solver.Solve(model)
    spent = time.process_time() - started
    if status == cp_model.OPTIMAL:
        return int(round(solver.ObjectiveValue())), spent, solver.UserTime(), solver
    if status == cp_model.INFEASIBLE:
        return None, spent, solver.UserTime(), solver
    raise RuntimeError(f"CP-SAT stopped with status {solver.StatusName(status)}")


def group_knapsack(values: np.ndarray, costs: Mapping[str, np.ndarray], fixed: Mapping[str, int],
                   budget: Mapping[str, float]) -> dict:
    """max Σ values[e, x_e] s.t. fixed + Σ costs[name][e, x_e] <= budget[name]; values and costs integers."""
    started = time.process_time()
    model = cp_model.CpModel()
    decisions, candidates = values.shape
    x = [[model.NewBoolVar(f"x{e}_{k}") for k in range(candidates)] for e in range(decisions)]
    for row in x:
        model.AddExactlyOne(row)
    for name, bound in budget.items():
        table = costs[name]
        model.Add(sum(int(table[e, k]) * x[e][k] for e in range(decisions) for k in range(candidates))
                  <= int(np.floor(bound + 1e-9)) - int(fixed[name]))
    model.Maximize(sum(int(values[e, k]) * x[e][k] for e in range(decisions) for k in range(candidates)))
    optimum, spent, solve_s, _ = _solve(model, started)
    return {"optimum": optimum, "seconds": spent, "solve_s": solve_s}


def darts_cells(theta: np.ndarray, usable: np.ndarray, nonparam: np.ndarray, additive: Mapping[str, np.ndarray],
                fixed: Mapping[str, int], budget: Mapping[str, float], edges: Sequence[tuple[int, int]],
                steps: int = 4) -> dict:
    """The DARTS cell ENG: per cell and node, exactly two input edges, each with one usable op.

    ``theta``, ``additive[name]`` (integers) and ``usable`` / ``nonparam`` (bool) are (2 * edges, ops), normal
    cell first. Budgets: ``params_m`` / ``flops_m`` (integer units), ``nonparam_ops`` (exactly N in the normal
    cell, the authors' rule), ``cell_height`` (the depth of each cell's graph, at most H).
    """
    started = time.process_time()
    model = cp_model.CpModel()
    per_cell, ops = len(edges), theta.shape[1]
    y = {(e, k): model.NewBoolVar(f"y{e}_{k}") for e in range(2 * per_cell) for k in range(ops) if usable[e, k]}
    for cell in range(2):
        chosen = []
        for position, _ in enumerate(edges):
            e = cell * per_cell + position
            z = model.NewBoolVar(f"z{e}")
            model.Add(sum(y[e, k] for k in range(ops) if usable[e, k]) == z)
            chosen.append(z)
        for node in range(steps):
            model.Add(sum(chosen[p] for p, (n, _) in enumerate(edges) if n == node) == 2)
        if "cell_height" in budget:
            height = int(budget["cell_height"])
            depth = [model.NewIntVar(0, 0, f"d{cell}_in{j}") for j in range(2)]
            depth += [model.NewIntVar(1, height, f"d{cell}_{n}") for n in range(steps)]
            for p, (node, j) in enumerate(edges):
                model.Add(depth[node + 2] >= depth[j] + 1).OnlyEnforceIf(chosen[p])
        if "nonparam_ops" in budget and cell == 0:
            model.Add(sum(y[e, k] for (e, k) in y if e < per_cell and nonparam[e, k]) == int(budget["nonparam_ops"]))
    for name in ("params_m", "flops_m"):
        if name in budget:
            model.Add(sum(int(additive[name][e, k]) * v for (e, k), v in y.items())
                      <= int(np.floor(budget[name] + 1e-9)) - int(fixed[name]))
    model.Maximize(sum(int(theta[e, k]) * v for (e, k), v in y.items()))
    optimum, spent, solve_s, _ = _solve(model, started)
    return {"optimum": optimum, "seconds": spent, "solve_s": solve_s}
