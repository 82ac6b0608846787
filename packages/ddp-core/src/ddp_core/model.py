"""The joint estimate behind the default preset: candidate effects fitted from every record at once.

The paper's utility (Eq. 3) credits a candidate with the mean score of the architectures it appeared in, so a
candidate paired with a bad partner elsewhere (a ``none`` op, a tiny width) is blamed for it. Here every record
enters one ridge regression of its score on the one-hot architecture (active decisions only), with a free
intercept per stage so that scores rising as a supernet trains do not favour the candidates that survive
longer. Scores are first replaced by their normal scores (ranks mapped through the inverse normal CDF), which
makes the fit blind to units (percent or [0, 1], accuracy or negative loss) and robust to outliers such as
a disconnected cell scoring at chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ddp_core.space import Architecture, SearchSpace

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_LOW = 0.02425


def _poly(coefficients: Sequence[float], x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for c in coefficients:
        out = out * x + c
    return out


def inverse_normal_cdf(p: np.ndarray) -> np.ndarray:
    """Φ⁻¹(p) for p in (0, 1), numpy only."""
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    low, high = p < _LOW, p > 1 - _LOW
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = _poly(_A, r) * q / (_poly(_B, r) * r + 1.0)
    for mask, sign, tail in ((low, 1.0, p[low]), (high, -1.0, 1.0 - p[high])):
        q = np.sqrt(-2.0 * np.log(tail))
        out[mask] = sign * _poly(_C, q) / (_poly(_D, q) * q + 1.0)
    return out


def normal_scores(values: Sequence[float]) -> np.ndarray:
    """Ranks (ties averaged) mapped to Φ⁻¹(rank / (n + 1)), standardised to mean 0 and variance 1.

    Any increasing transform of ``values`` (percent vs fraction, a shift) gives the same result.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        return values.copy()
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    ranks = (first_rank + (counts - 1) / 2.0)[inverse]
    z = inverse_normal_cdf(ranks / (n + 1.0))
    spread = z.std()
    return (z - z.mean()) / spread if spread > 0 else np.zeros(n)


class AdditiveModel:
    """Ridge regression of normal scores on one-hot architectures with a free intercept per block (stage).

    Parameters
    ----------
    space : SearchSpace
    ridge : float
        Penalty on the candidate effects, in units of records: a candidate seen n times has its effect shrunk
        by about ``ridge / (n + ridge)`` towards its decision's mean. Intercepts are left (almost) free.
    """

    def __init__(self, space: SearchSpace, ridge: float = 1.0) -> None:
        self.space = space
        self.ridge = float(ridge)
        sizes = space.sizes
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.num_features = int(sizes.sum())
        self._controllers = [
            (e, space.decision_index(d.requires.decision),
             np.array([space.decisions[space.decision_index(d.requires.decision)].index(n)
                       for n in d.requires.candidates]))
            for e, d in enumerate(space.decisions) if d.requires is not None
        ]

    def _active(self, architectures: np.ndarray) -> np.ndarray:
        active = np.ones(architectures.shape, dtype=bool)
        for e, parent, allowed in self._controllers:
            active[:, e] = np.isin(architectures[:, parent], allowed)
        return active

    def features(self, architectures: Sequence[Architecture]) -> np.ndarray:
        """(n, total candidates) one-hot of the active decisions' choices."""
        archs = np.atleast_2d(np.asarray(architectures, dtype=np.int64))
        x = np.zeros((archs.shape[0], self.num_features))
        rows, cols = np.nonzero(self._active(archs))
        x[rows, self.offsets[cols] + archs[rows, cols]] = 1.0
        return x

    def fit(self, architectures: Sequence[Architecture], scores: Sequence[float], blocks: Sequence[int]) -> AdditiveModel:
        """Fit on oriented scores (higher is better); ``blocks`` labels each record's stage."""
        self._fitted_architectures = [tuple(int(k) for k in a) for a in architectures]
        x = self.features(architectures)
        self.z = normal_scores(scores)
        blocks = np.asarray(blocks, dtype=np.int64)
        self.num_blocks = int(blocks.max()) + 1 if blocks.size else 1
        b = np.zeros((x.shape[0], self.num_blocks))
        b[np.arange(x.shape[0]), blocks] = 1.0
        design = np.hstack([x, b])
        penalty = np.concatenate([np.full(self.num_features, self.ridge), np.full(self.num_blocks, 1e-6)])
        gram = design.T @ design + np.diag(penalty)
        self._gram_inverse = np.linalg.inv(gram)
        weights = self._gram_inverse @ (design.T @ self.z)
        self.coefficients = weights[: self.num_features]
        self.intercepts = weights[self.num_features :]
        self.blocks = blocks
        self.residuals = self.z - design @ weights
        self.residual_variance = float(self.residuals @ self.residuals) / max(x.shape[0] - 1, 1)
        return self

    def effects(self, coefficients: np.ndarray | None = None) -> np.ndarray:
        """Candidate effects as an (E, Kmax) array, 0 where a candidate does not exist."""
        coefficients = self.coefficients if coefficients is None else coefficients
        out = np.zeros((self.space.num_decisions, self.space.max_candidates))
        for e, size in enumerate(self.space.sizes):
            out[e, :size] = coefficients[self.offsets[e] : self.offsets[e] + size]
        return out

    def sample_effects(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of the effects from the Gaussian posterior (Thompson sampling)."""
        covariance = self._gram_inverse[: self.num_features, : self.num_features] * max(self.residual_variance, 1e-6)
        covariance = (covariance + covariance.T) / 2.0
        factor = np.linalg.cholesky(covariance + 1e-10 * np.eye(self.num_features))
        return self.effects(self.coefficients + factor @ rng.standard_normal(self.num_features))

    def predict(self, architectures: Sequence[Architecture]) -> np.ndarray:
        """Predicted normal score (effects only, no intercept)."""
        return self.features(architectures) @ self.coefficients

    def estimates(self) -> tuple[list[Architecture], np.ndarray, np.ndarray]:
        """Per distinct evaluated architecture: (architectures, estimated normal score, times evaluated).

        Empirical Bayes: the estimate is the model's prediction plus a share ``w`` of the architecture's own
        mean residual, ``w = n s_i² / (n s_i² + s_n²)``. The measurement noise ``s_n²`` comes from repeated
        evaluations of one architecture; what the additive part does not explain, beyond that noise, is real
        (interactions between decisions), ``s_i²``. Without noise the estimate is the observed score, so the
        best evaluated architecture wins; under heavy noise it leans on the model, so a lucky single score
        does not.
        """
        archs = self._fitted_architectures
        groups: dict[Architecture, list[int]] = {}
        for i, a in enumerate(archs):
            groups.setdefault(a, []).append(i)
        keys = list(groups)
        counts = np.array([len(groups[k]) for k in keys], dtype=np.float64)
        adjusted = self.z - self.intercepts[self.blocks]
        means = np.array([adjusted[groups[k]].mean() for k in keys])
        within = sum(float(((adjusted[idx] - adjusted[idx].mean()) ** 2).sum()) for idx in groups.values())
        dof = int(sum(len(idx) - 1 for idx in groups.values()))
        noise = within / dof if dof > 0 else 0.0
        predicted = self.predict(keys)
        residual = means - predicted
        interaction = max(float(np.mean(residual**2)) - noise * float(np.mean(1.0 / counts)), 1e-9)
        weight = counts * interaction / (counts * interaction + noise)
        return keys, predicted + weight * residual, counts
