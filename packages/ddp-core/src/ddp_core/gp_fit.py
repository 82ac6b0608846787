"""The interaction GP's variance shares, chosen by marginal likelihood (:class:`ddp_core.quality.QualityModel`)."""

from __future__ import annotations

import numpy as np

# (linear share, pairwise share) of the residual variance tried by the marginal likelihood; the rest is s_d.
SHARES = [(a, b) for a in (0.0, 0.1, 0.3) for b in (0.0, 0.05, 0.15, 0.3, 0.5, 0.75) if a + b <= 0.9]


def cho_solve(factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L L')^-1 b`` for a lower-triangular Cholesky factor ``L``."""
    return np.linalg.solve(factor.T, np.linalg.solve(factor, b))


def choose_shares(residual: np.ndarray, noise_mean: np.ndarray, linear: np.ndarray, pairwise: np.ndarray,
                  total: float) -> tuple[float, float]:
    """The (linear, pairwise) shares of ``total`` (the rest is per-architecture variance) of :data:`SHARES` whose
    GP gives ``residual`` the highest marginal likelihood; ``noise_mean``: each point's measurement variance."""
    best, best_value = (0.0, 0.0), -np.inf
    for a, b in SHARES:
        covariance = total * (a * linear + b * pairwise)
        covariance[np.diag_indices_from(covariance)] += total * (1.0 - a - b) + noise_mean + 1e-9
        try:
            factor = np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError:
            continue
        alpha = cho_solve(factor, residual)
        value = -0.5 * float(residual @ alpha) - float(np.log(np.diag(factor)).sum())
        if value > best_value + 1e-9:
            best, best_value = (a, b), value
    return best
