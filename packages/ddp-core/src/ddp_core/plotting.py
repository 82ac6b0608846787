"""θ evolution per decision over stages, like the paper's Fig. 4 (matplotlib, imported lazily)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ddp_core.space import SearchSpace


def new_figure(**kwargs: Any) -> Any:
    """A matplotlib Figure that is not registered with pyplot: drawing never switches the user's backend."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG through a temporary file and ``os.replace`` (closed if pyplot made it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=dpi, format="png")
    if getattr(figure.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(figure)
    os.replace(tmp, path)
    return path


def theta_trajectories(space: SearchSpace, history: dict[str, Any]) -> np.ndarray:
    """(stages + 1, E, Kmax) θ after each stage; a pruned candidate keeps the θ it had when pruned."""
    snapshots = np.asarray(history["theta"], dtype=np.float64)
    pruned_at: dict[tuple[int, int], tuple[int, float]] = {}
    for event in history["pruned"]:
        e = space.decision_index(event["decision"])
        k = space.decisions[e].index(event["candidate"])
        pruned_at[(e, k)] = (int(event["stage"]), float(event["theta"]))
    out = snapshots.copy()
    for (e, k), (stage, value) in pruned_at.items():
        out[stage + 1 :, e, k] = np.nan
        out[stage + 1, e, k] = value
    return out


def plot_theta_history(
    space: SearchSpace, history: dict[str, Any], path: str | os.PathLike, max_panels: int = 28
) -> Path:
    """Draw θ of every candidate of the first ``max_panels`` decisions across stages into a PNG.

    Decisions that share their candidate names share one legend; otherwise every panel has its own.
    """
    from matplotlib.ticker import MaxNLocator

    trajectories = theta_trajectories(space, history)
    stages = np.arange(trajectories.shape[0])
    panels = min(space.num_decisions, max_panels)
    columns = min(7, panels)
    rows = math.ceil(panels / columns)
    shared = len({space.decisions[e].candidate_names for e in range(panels)}) == 1
    figure = new_figure(figsize=(2.6 * columns, (2.2 if shared else 2.8) * rows))
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True)
    for e in range(rows * columns):
        axis = axes[e // columns][e % columns]
        if e >= panels:
            axis.axis("off")
            continue
        decision = space.decisions[e]
        for k, candidate in enumerate(decision.candidates):
            axis.plot(stages, trajectories[:, e, k], marker="o", markersize=2.5, linewidth=1, label=candidate.name)
        axis.set_title(decision.name, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not shared:
            axis.legend(fontsize=6, frameon=False, loc="best")
    if shared:
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=8, frameon=False)
    figure.suptitle("θ per candidate after each stage (a line ends where the candidate was pruned)", fontsize=10)
    # fixed margins for a regular grid: tight_layout measured every tick label and took seconds for 28 panels
    height = figure.get_figheight()
    figure.supxlabel("stage", fontsize=9, y=(0.55 if shared else 0.05) / height)
    figure.subplots_adjust(left=0.05, right=0.99, top=1 - 0.6 / height, bottom=(0.95 if shared else 0.4) / height,
                           wspace=0.35, hspace=0.55 if shared else 0.75)
    return save_figure(figure, path)


def plot_pareto_front(
    front: list[Any], cost_name: str, path: str | os.PathLike, title: str = "ENG Pareto front",
    highlight: list[Any] | None = None, plotted: str = "expectation",
) -> Path:
    """Expectation vs cost of ENG answers (``GenerationResult``), with optional highlighted answers.

    ``plotted="predicted_score"`` plots the recommended networks' predicted scores (the search's model) instead.

    The highlighted answers are drawn on the front (a cheaper-and-better staircase over both sets), and their
    labels sit inside the axes: to the left of points in the right half, to the right otherwise.
    """
    figure = new_figure(figsize=(6, 4))
    axis = figure.subplots()
    points = sorted({(float(r.costs[cost_name]), float(getattr(r, plotted))) for r in [*front, *(highlight or [])]})
    staircase, best = [], -np.inf
    for cost, value in points:  # keep a point only if it beats every cheaper one
        if value > best:
            staircase.append((cost, value))
            best = value
    costs = [c for c, _ in staircase]
    values = [v for _, v in staircase]
    axis.step(costs, values, where="post", color="tab:blue", linewidth=1)
    axis.plot(costs, values, "o", color="tab:blue", markersize=3,
              label="Pareto-optimal architectures" if plotted == "expectation" else "recommended networks")
    axis.margins(x=0.08, y=0.15)
    middle = (min(costs) + max(costs)) / 2 if costs else 0.0
    for answer in highlight or []:
        x, y = answer.costs[cost_name], getattr(answer, plotted)
        axis.plot(x, y, "*", color="tab:red", markersize=11)
        label = ", ".join(f"{k} <= {v:g}" for k, v in answer.budgets.items())
        right_half = x > middle
        axis.annotate(label, (x, y), textcoords="offset points", xytext=(-7, 6) if right_half else (7, -12),
                      ha="right" if right_half else "left", fontsize=7, color="tab:red")
    axis.set_xlabel(cost_name)
    axis.set_ylabel("architecture expectation E[α]" if plotted == "expectation" else
                    "predicted score (the search's model)" if plotted == "predicted_score" else plotted)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return save_figure(figure, path)
