"""Draw DARTS cells (the paper's Fig. 5) with matplotlib: inputs left, intermediate nodes, output right."""

from __future__ import annotations

import os
import pathlib

from ddp_core.plotting import new_figure, save_figure
from ddp_vision.darts.genotypes import Genotype, validate_genotype

__all__ = ["draw_genotype"]

_OP_COLOURS = {
    "sep_conv_3x3": "#1f77b4", "sep_conv_5x5": "#17becf", "dil_conv_3x3": "#2ca02c", "dil_conv_5x5": "#8c564b",
    "max_pool_3x3": "#d62728", "avg_pool_3x3": "#ff7f0e", "skip_connect": "#7f7f7f",
}


def _draw_cell(axis, pairs: list[tuple[str, int]], concat: list[int], title: str) -> None:
    from matplotlib.patches import FancyArrowPatch

    steps = len(pairs) // 2
    positions = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for node in range(steps):
        positions[node + 2] = (1.7 + 1.5 * node, 0.35 if node % 2 == 0 else -0.35)
    output = (1.6 + 1.5 * steps + 0.3, 0.0)
    labels = {0: "$c_{k-2}$", 1: "$c_{k-1}$", **{n + 2: str(n) for n in range(steps)}}

    def box(xy, text, colour):
        axis.text(*xy, text, ha="center", va="center", fontsize=9, zorder=3,
                  bbox={"boxstyle": "round,pad=0.35", "facecolor": colour, "edgecolor": "black"})

    axis.set_xlim(-0.6, output[0] + 0.6)
    axis.set_ylim(-2.3, 2.3)
    to_display, to_data = axis.transData.transform, axis.transData.inverted().transform
    for position, (op, j) in enumerate(pairs):
        start, end = positions[j], positions[position // 2 + 2]
        # longer edges bow further out, away from the nodes they would otherwise cross; c_{k-2} edges bow
        # up, c_{k-1} edges down (arc3: a positive rad bends a left-to-right edge downwards)
        span = position // 2 + 2 - j
        direction = -1.0 if j == 0 else 1.0 if j == 1 else (-1.0 if position % 2 == 0 else 1.0)
        bend = direction * (0.1 + 0.06 * (span - 1))
        colour = _OP_COLOURS.get(op, "black")
        axis.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={bend}", arrowstyle="-|>",
                                       mutation_scale=11, color=colour, linewidth=1.4, shrinkA=14, shrinkB=14))
        # label at the middle of matplotlib's arc3 Bezier curve (computed in display space, like the arc)
        (x1, y1), (x2, y2) = to_display(start), to_display(end)
        middle = to_data(((x1 + x2) / 2 + 0.5 * bend * (y2 - y1), (y1 + y2) / 2 - 0.5 * bend * (x2 - x1)))
        axis.text(*middle, op, fontsize=6.5, color=colour, ha="center", va="center", zorder=4,
                  bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    for node in concat:
        axis.add_patch(FancyArrowPatch(positions[node], output, arrowstyle="-|>", mutation_scale=9,
                                       color="#bbbbbb", linewidth=0.9, shrinkA=12, shrinkB=14, linestyle="--"))
    for state, xy in positions.items():
        box(xy, labels[state], "#a6cee3" if state < 2 else "#ffffb3")
    box(output, "$c_{k}$", "#b2df8a")
    axis.set_title(title, fontsize=10)
    axis.axis("off")


def draw_genotype(genotype: Genotype, path: str | os.PathLike, title: str = "") -> pathlib.Path:
    """Write a PNG with the normal and the reduction cell of ``genotype``; returns the path."""
    genotype = validate_genotype(genotype)
    figure = new_figure(figsize=(9, 6.5))  # not through pyplot: drawing never switches the user's backend
    axes = figure.subplots(2, 1)
    figure.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, hspace=0.15)
    _draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell")
    _draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell")
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)
