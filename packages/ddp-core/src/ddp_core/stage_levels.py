"""Stage levels of the quality model: how much a score depends on the stage it was measured in.

A weight-sharing supernet keeps training while the search runs, so the same network scores higher in a later
stage, and :class:`ddp_core.quality.QualityModel` fits a free level per stage (the default, ``free``) so that the
networks a later stage holds are not credited with that rise. A stationary evaluator (stand-alone training, a
benchmark table) has no rise, and there a free level also takes how much better a stage's networks are than
their additive effects say (the interactions the search found), then discounts them for it.
``SearchConfig(stationary_scores=True)`` selects ``one``; ``ddp_core.quality.STAGE_LEVELS`` is the default for
the rest (an ablation switch):

- ``free``: ridge effects and a free level per stage (:func:`free_levels`);
- ``one``: one common level (:func:`solve_one_level` with no levels): right for a stationary evaluator;
- ``linked``: levels from the *same* network scored in two stages (:func:`linked_levels`: within-network
  differences, each network's own level profiled out, shrunk toward no drift with a Gaussian prior of
  :data:`DRIFT_PRIOR_SD` normal-score units per stage; no network scored twice across stages: no drift).

Measured (BENCHMARKS.md, "Stage levels"): on the stationary benchmark tables ``one`` and ``linked`` recommend
better networks per budget than ``free`` on most problems, but with scores that rise by one standard deviation
per stage (a supernet) ``one`` and ``linked`` lose clearly on the interacting problems: the default stays
``free``.
"""

from __future__ import annotations

import numpy as np

DRIFT_PRIOR_SD = 0.5  # prior sd of a stage's level (normal-score units) before any network is scored twice


def linked_levels(z: np.ndarray, stages: np.ndarray, groups: np.ndarray, num_stages: int,
                  noise: float) -> tuple[np.ndarray, int]:
    """(num_stages,) stage levels (mean zero) from networks scored in more than one stage, and how many such
    networks there are.

    ``z``: normal scores, ``stages`` and ``groups`` (distinct network) per record, ``noise``: the variance of one
    score about its network's level (the prior's strength is ``noise / DRIFT_PRIOR_SD**2`` records).
    Networks are profiled out: the levels solve ``(sum_g X_g' C_g X_g + lambda I) d = sum_g X_g' C_g z_g``, with
    ``X_g`` the stage indicators of network ``g``'s records and ``C_g`` centring within the network.
    """
    levels = np.zeros(num_stages)
    if num_stages < 2 or len(z) == 0:
        return levels, 0
    num_groups = int(groups.max()) + 1
    cell = groups * num_stages + stages
    counts = np.bincount(cell, minlength=num_groups * num_stages).reshape(num_groups, num_stages)
    linked = np.flatnonzero((counts > 0).sum(axis=1) > 1)
    if not len(linked):
        return levels, 0
    sums = np.bincount(cell, weights=z, minlength=num_groups * num_stages).reshape(num_groups, num_stages)[linked]
    counts = counts[linked].astype(np.float64)
    totals = counts.sum(axis=1)
    gram = np.diag(counts.sum(axis=0)) - (counts.T / totals) @ counts
    rhs = sums.sum(axis=0) - counts.T @ (sums.sum(axis=1) / totals)
    penalty = max(float(noise), 1e-6) / DRIFT_PRIOR_SD**2
    levels = np.linalg.solve(gram + penalty * np.eye(num_stages), rhs)
    return levels - levels.mean(), len(linked)


def free_levels(gram_features: np.ndarray, feature_stage: np.ndarray, stage_counts: np.ndarray, ridge: float,
                xz: np.ndarray, bz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``free`` ablation: ridge effects with a free level per stage, from the sufficient statistics of
    :class:`ddp_core.quality.QualityModel` (X'X, X' stage indicators, stage counts, X'z, stage sums of z).
    Returns (effects, levels, the effects' block of the inverse Gram matrix)."""
    f, b = len(xz), len(bz)
    gram = np.zeros((f + b, f + b))
    gram[:f, :f] = gram_features + ridge * np.eye(f)
    gram[:f, f:] = feature_stage
    gram[f:, :f] = feature_stage.T
    gram[f:, f:] = np.diag(stage_counts + 1e-6)
    inverse = np.linalg.inv(gram)
    solution = inverse @ np.concatenate([xz, bz])
    return solution[:f], solution[f:], inverse[:f, :f]


def one_level_inverse(gram_features: np.ndarray, feature_stage: np.ndarray, stage_counts: np.ndarray,
                      ridge: float) -> np.ndarray:
    """Inverse Gram matrix of ridge effects and one common level (the stage levels given, not fitted)."""
    f = gram_features.shape[0]
    gram = np.zeros((f + 1, f + 1))
    gram[:f, :f] = gram_features + ridge * np.eye(f)
    gram[:f, f] = gram[f, :f] = feature_stage.sum(axis=1)
    gram[f, f] = stage_counts.sum() + 1e-6
    return np.linalg.inv(gram)


def solve_one_level(inverse: np.ndarray, feature_stage: np.ndarray, stage_counts: np.ndarray, xz: np.ndarray,
                    bz: np.ndarray, levels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Ridge effects and one free common level, stage ``levels`` given (None: none): (effects, intercepts)."""
    f = len(xz)
    levels = np.zeros(len(bz)) if levels is None else levels
    rhs = np.concatenate([xz - feature_stage @ levels, [bz.sum() - stage_counts @ levels]])
    solution = inverse @ rhs
    return solution[:f], float(solution[f]) + levels


def residual_variance(z: np.ndarray, features: np.ndarray, stages: np.ndarray, coefficients: np.ndarray,
                      intercepts: np.ndarray) -> float:
    """Variance of the normal scores ``z`` about ridge effects (``features``: one-hot columns, -1 inactive) plus
    stage ``intercepts``."""
    padded = np.concatenate([coefficients, [0.0]])
    residual = z - padded[np.where(features >= 0, features, len(coefficients))].sum(axis=1) - intercepts[stages]
    return max(float(residual @ residual) / max(len(z) - 1, 1), 1e-6)
