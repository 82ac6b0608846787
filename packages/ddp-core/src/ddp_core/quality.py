"""The default preset's model of quality: additive effects from every record, pairwise interactions on top.

Two parts, both numpy only, both refitted once per round at a cost that does not grow with the number of
distinct architectures beyond a cap:

1. **Additive**: a ridge regression of normal scores (ranks through Φ⁻¹, so units do not matter) on the one-hot
   architecture (active decisions only) with a free intercept per stage, over *every* record. Its Gram matrix is
   kept as sufficient statistics and updated per record, so a refit costs one pass of ``bincount`` over the
   records plus one solve of the (candidates + stages) system.
2. **Interactions**: a Gaussian process on what the additive part leaves unexplained, one point per distinct
   evaluated architecture (its mean residual), with the kernel

       k(x, x') = s1 · m / E  +  s2 · m (m - 1) / (E (E - 1)),      m = decisions where x and x' agree,

   plus, as noise, ``s_d`` (higher-order effects particular to one architecture) and ``s_n / n_x`` (the
   measurement noise of a mean of ``n_x`` scores, ``s_n`` measured on repeated scores). ``m (m - 1) / 2`` counts
   the *pairs* of decisions on which two architectures agree, so this GP is exactly a ridge regression on
   one-hot pairwise features, shrunk by ``s2``: where data are few the marginal likelihood picks small ``s1``,
   ``s2`` and the model stays additive. The fitted GP is therefore also an explicit pairwise model,
   ``f(x) = c + Σ_e u_e(x_e) + Σ_{e<f} W_ef(x_e, x_f)`` (:meth:`QualityModel.pairwise`), which
   :mod:`ddp_core.recommend` maximises exactly under budgets. Above ``max_points`` distinct architectures the GP
   is fitted on the best half and the most recent half of them.

Estimates of *evaluated* architectures add a share ``s_d / (s_d + s_n / n_x)`` of their own residual to the
prediction (empirical Bayes): without noise the estimate is what was measured, under heavy noise it leans on
the model, so one lucky score does not win. Two noise levels: the search's own (optimistic) estimates use
``s_n`` as measured, zero until some architecture is scored twice; the answer's (ENG, the recommended network)
use ``s_n`` shrunk toward "every residual is noise" by ``NOISE_PRIOR_DOF`` pseudo-repeats, zero only once
repeated scores agree exactly, so a network scored once is not recommended for a lucky score (measured in
BENCHMARKS.md). Stage levels: :mod:`ddp_core.stage_levels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ddp_core.gp_fit import cho_solve, choose_shares
from ddp_core.model import normal_scores
from ddp_core.space import Architecture, SearchSpace
from ddp_core.stage_levels import (
    free_levels,
    linked_levels,
    one_level_inverse,
    residual_variance,
    solve_one_level,
)

NOISE_PRIOR_DOF = 2.0  # strength, in repeated scores, of the answer's noise prior
STAGE_LEVELS = "free"  # "free": a fitted level per stage (default: a supernet's scores rise as it trains); "one":
# one level (a stationary evaluator); "linked": levels from networks scored in two stages (ddp_core.stage_levels)
NOISE = "adjusted"  # "adjusted": the spread of repeats after the stage intercepts only (ablation)


class QualityModel:
    """See the module docstring. ``update(records)`` then ``fit()``; records only ever get appended.

    Parameters
    ----------
    space : SearchSpace
    ridge : float
        Penalty on the additive effects, in records: a candidate seen n times is shrunk by ~ridge / (n + ridge).
    max_points : int
        Cap on the distinct architectures the interaction GP is fitted on (its cost is cubic in them).
    stage_levels : {"free", "one", "linked"}, optional
        How scores of different stages are levelled (:mod:`ddp_core.stage_levels`); default
        :data:`STAGE_LEVELS` (``free``); ``one`` for a stationary evaluator.
    """

    def __init__(self, space: SearchSpace, ridge: float = 1.0, max_points: int = 400,
                 interactions: bool = True, stage_levels: str | None = None) -> None:
        self.space = space
        self.stage_levels = STAGE_LEVELS if stage_levels is None else stage_levels
        if self.stage_levels not in ("free", "one", "linked"):
            raise ValueError(f"stage_levels must be 'free', 'one' or 'linked', got {self.stage_levels!r}")
        self.ridge = float(ridge)
        self.max_points = int(max_points)
        self.interactions = bool(interactions)
        sizes = np.asarray(space.sizes, dtype=np.int64)
        self.num_decisions = len(sizes)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.num_features = int(sizes.sum())
        # Encoded candidates for the interaction kernel: a conditional decision gets one more value, "inactive".
        self.conditional = np.array([d.requires is not None for d in space.decisions])
        self.encoded_sizes = sizes + self.conditional.astype(np.int64)
        self.encoded_offsets = np.concatenate([[0], np.cumsum(self.encoded_sizes)[:-1]]).astype(np.int64)
        self.num_encoded = int(self.encoded_sizes.sum())
        self._controllers = [
            (e, space.decision_index(d.requires.decision),
             np.array([space.decisions[space.decision_index(d.requires.decision)].index(n)
                       for n in d.requires.candidates]))
            for e, d in enumerate(space.decisions) if d.requires is not None
        ]
        capacity = 64
        self._features = np.full((capacity, self.num_decisions), -1, dtype=np.int64)  # -1: inactive
        self._stages = np.zeros(capacity, dtype=np.int64)
        self._scores = np.zeros(capacity)
        self._group = np.zeros(capacity, dtype=np.int64)
        self.num_records = 0
        self._gram_features = np.zeros((self.num_features, self.num_features))
        self._feature_stage = np.zeros((self.num_features, 1))
        self._stage_counts = np.zeros(1)
        # evaluated networks by canonical form (inactive decisions read as one extra value) -> group index;
        # distinct_architectures holds the first architecture seen for each
        self.distinct: dict[Architecture, int] = {}
        self.distinct_architectures: list[Architecture] = []
        self._distinct_rows = np.zeros((capacity, self.num_decisions), dtype=np.int64)
        self._hyper_points = self._hyper_records = -1
        self.shares = (0.0, 0.0)
        self.fitted = False

    # ------------------------------------------------------------------ data
    def active(self, architectures: np.ndarray) -> np.ndarray:
        archs = np.atleast_2d(np.asarray(architectures, dtype=np.int64))
        active = np.ones(archs.shape, dtype=bool)
        for e, parent, allowed in self._controllers:
            active[:, e] = np.isin(archs[:, parent], allowed)
        return active

    def feature_indices(self, architectures: Sequence[Architecture]) -> np.ndarray:
        """(n, E) column of each active decision's candidate in the one-hot design, -1 where inactive."""
        archs = np.atleast_2d(np.asarray(architectures, dtype=np.int64))
        return np.where(self.active(archs), self.offsets[None, :] + archs, -1)

    def encoded(self, architectures: Sequence[Architecture]) -> np.ndarray:
        """(n, E) candidate per decision with inactive decisions mapped to their extra value (for the kernel)."""
        archs = np.atleast_2d(np.asarray(architectures, dtype=np.int64))
        return np.where(self.active(archs), archs, np.asarray(self.space.sizes)[None, :])

    @property
    def canonical(self) -> dict[Architecture, int]:
        """Every evaluated network in canonical form (membership tests)."""
        return self.distinct

    def canonical_of(self, architecture: Architecture) -> Architecture:
        """The network an architecture computes: inactive decisions all read as one extra value."""
        if not self._controllers:
            return tuple(architecture)
        return tuple(int(k) for k in self.encoded([architecture])[0])

    def _grow(self, needed: int) -> None:
        capacity = self._features.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity)
        self._features = np.concatenate([self._features, np.full((capacity - self._features.shape[0],
                                                                   self.num_decisions), -1, dtype=np.int64)])
        for name in ("_stages", "_scores", "_group"):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.zeros(capacity - old.shape[0], dtype=old.dtype)]))

    def update(self, architectures: Sequence[Architecture], scores: Sequence[float], stages: Sequence[int]) -> None:
        """Append records (oriented scores: higher is better). Sufficient statistics are updated in place."""
        n_new = len(scores)
        if n_new == 0:
            return
        archs = [tuple(int(k) for k in a) for a in architectures]
        start = self.num_records
        self._grow(start + n_new)
        features = self.feature_indices(archs)
        stages = np.asarray(stages, dtype=np.int64)
        self._features[start:start + n_new] = features
        self._stages[start:start + n_new] = stages
        self._scores[start:start + n_new] = np.asarray(scores, dtype=np.float64)
        for i, a in enumerate(archs):
            key = self.canonical_of(a)
            group = self.distinct.get(key)
            if group is None:
                group = self.distinct[key] = len(self.distinct_architectures)
                self.distinct_architectures.append(a)
                if group >= self._distinct_rows.shape[0]:
                    self._distinct_rows = np.vstack([self._distinct_rows, np.zeros_like(self._distinct_rows)])
                self._distinct_rows[group] = a
            self._group[start + i] = group
        self.num_records += n_new
        num_stages = int(stages.max()) + 1
        if num_stages > self._stage_counts.shape[0]:
            extra = num_stages - self._stage_counts.shape[0]
            self._stage_counts = np.concatenate([self._stage_counts, np.zeros(extra)])
            self._feature_stage = np.hstack([self._feature_stage, np.zeros((self.num_features, extra))])
        f = self.num_features
        valid = features >= 0
        rows = np.repeat(np.arange(n_new), valid.sum(axis=1))
        columns = features[valid]
        # X'X over the new records: every pair of active columns of one record.
        if n_new <= 256:
            for i in range(n_new):
                c = features[i][valid[i]]
                self._gram_features[np.ix_(c, c)] += 1.0
        else:
            padded = np.where(valid, features, f)  # f: a dump column, dropped below
            chunk = max(1, 2_000_000 // max(self.num_decisions**2, 1))
            for first in range(0, n_new, chunk):
                part = padded[first:first + chunk]
                pairs = (part[:, :, None] * (f + 1) + part[:, None, :]).ravel()
                counts = np.bincount(pairs, minlength=(f + 1) ** 2).reshape(f + 1, f + 1)
                self._gram_features += counts[:f, :f]
        np.add.at(self._feature_stage, (columns, stages[rows]), 1.0)
        np.add.at(self._stage_counts, stages, 1.0)

    # ------------------------------------------------------------------ fit
    def fit(self) -> QualityModel:
        n = self.num_records
        if n < 2:
            raise ValueError("the quality model needs at least two records")
        f, b = self.num_features, self._stage_counts.shape[0]
        z = normal_scores(self._scores[:n])
        features = self._features[:n]
        valid = features >= 0
        weights = np.broadcast_to(z[:, None], features.shape)[valid]
        xz = np.bincount(features[valid], weights=weights, minlength=f)
        bz = np.bincount(self._stages[:n], weights=z, minlength=b)
        statistics = (self._gram_features, self._feature_stage, self._stage_counts, self.ridge)
        stages = self._stages[:n]
        if self.stage_levels in ("one", "linked"):
            inverse = one_level_inverse(*statistics)
            given = (inverse, self._feature_stage, self._stage_counts, xz, bz)
            levels = None
            if self.stage_levels == "linked":
                one = residual_variance(z, features, stages, *solve_one_level(*given, None))
                levels = linked_levels(z, stages, self._group[:n], b, one)[0]
            self.coefficients, self.intercepts = solve_one_level(*given, levels)
            inverse = inverse[:f, :f]
        else:
            self.coefficients, self.intercepts, inverse = free_levels(*statistics, xz, bz)
        padded = np.concatenate([self.coefficients, [0.0]])
        adjusted = z - self.intercepts[stages]
        self.residual_variance = residual_variance(z, features, stages, self.coefficients, self.intercepts)
        self._effect_covariance_factor = None
        self._inverse_features = inverse
        self.z = z
        # Per distinct architecture: mean adjusted score, count, within-architecture noise.
        groups = self._group[:n]
        d = len(self.distinct_architectures)
        self.counts = np.bincount(groups, minlength=d).astype(np.float64)
        self.means = np.bincount(groups, weights=adjusted, minlength=d) / self.counts
        within = float(((adjusted - self.means[groups]) ** 2).sum())
        # Repeats across stages also differ by the fitted stage intercepts, which absorb part of the survivors'
        # quality: the noise is the smaller of the spreads with and without them (identical scores: zero).
        raw_means = np.bincount(groups, weights=z, minlength=d) / self.counts
        smallest = min(within, float(((z - raw_means[groups]) ** 2).sum()))
        if NOISE == "min":
            within = smallest
        repeats = n - d
        self.noise = within / repeats if repeats > 0 else 0.0
        # the noise of repeated scores themselves (zero when every repeat scored the same): decides re-scoring
        self.repeat_noise = smallest / repeats if repeats > 0 else 0.0
        self.has_repeats = repeats > 0
        # The answer's noise: what few repeats measure, shrunk toward "every residual is noise" (NOISE_PRIOR_DOF
        # pseudo-repeats), so that a network scored once is not recommended for a lucky score; zero once repeated
        # scores agree exactly. The search itself keeps the measured noise (optimistic about what it saw).
        if repeats > 0 and self.repeat_noise <= 1e-9 * self.residual_variance:
            self.answer_noise = 0.0
        else:
            self.answer_noise = (within + NOISE_PRIOR_DOF * self.residual_variance) / (repeats + NOISE_PRIOR_DOF)
        self.fitted_distinct = d  # architectures appended after this fit have no estimate until the next
        self.distinct_features = self.feature_indices(self._distinct_rows[:d])
        self.distinct_additive = padded[np.where(self.distinct_features >= 0, self.distinct_features, f)].sum(axis=1)
        self._fit_interactions()
        self.fitted = True
        self._estimates = None
        return self

    def _select_points(self) -> np.ndarray:
        d = len(self.distinct_architectures)
        if d <= self.max_points:
            return np.arange(d)
        best = np.argsort(-self.means, kind="stable")[: self.max_points // 2]
        chosen = set(best.tolist())
        recent = [j for j in range(d - 1, -1, -1) if j not in chosen][: self.max_points - len(chosen)]
        return np.sort(np.array(sorted(chosen) + recent, dtype=np.int64))

    def _onehot(self, encoded: np.ndarray) -> np.ndarray:
        out = np.zeros((encoded.shape[0], self.num_encoded), dtype=np.float32)
        rows = np.repeat(np.arange(encoded.shape[0]), self.num_decisions)
        out[rows, (self.encoded_offsets[None, :] + encoded).ravel()] = 1.0
        return out

    def _kernels(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = self.num_decisions
        if a.shape[0] * b.shape[0] > 4096:  # one BLAS product of one-hot encodings counts the agreements
            matches = np.rint(self._onehot(a) @ self._onehot(b).T).astype(np.float64)
        else:
            matches = (a[:, None, :] == b[None, :, :]).sum(axis=2).astype(np.float64)
        linear = matches / e
        pairwise = matches * (matches - 1) / (e * (e - 1)) if e > 1 else np.zeros_like(matches)
        return linear, pairwise

    def _fit_interactions(self) -> None:
        points = self._select_points()
        self.points = points
        self.point_encoded = self.encoded(self._distinct_rows[points])
        residual = self.means[points] - self.distinct_additive[points]
        noise_mean = self.noise / self.counts[points]
        linear, pairwise = self._kernels(self.point_encoded, self.point_encoded)
        total = max(float(np.mean(residual**2)) - float(np.mean(noise_mean)), 1e-6)
        # the shares are chosen again when the data grew by a fifth (they change slowly; each try is a Cholesky)
        if self._hyper_points < 0 or len(points) >= 1.2 * self._hyper_points or len(points) < self._hyper_points \
                or self.num_records >= 1.2 * self._hyper_records:
            self.shares = choose_shares(residual, noise_mean, linear, pairwise, total) \
                if self.interactions else (0.0, 0.0)
            self._hyper_points, self._hyper_records = len(points), self.num_records
        share_linear, share_pairwise = self.shares
        self.s_linear, self.s_pairwise = share_linear * total, share_pairwise * total
        self.s_distinct = max(total * (1.0 - share_linear - share_pairwise), 1e-6)
        covariance = self.s_linear * linear + self.s_pairwise * pairwise
        covariance[np.diag_indices_from(covariance)] += self.s_distinct + noise_mean + 1e-9
        factor = np.linalg.cholesky(covariance)
        self._gp_factor = factor
        self._gp_factor_inverse = np.linalg.inv(factor)  # lower triangular; predictive variances need L⁻¹ k
        self.alpha = cho_solve(factor, residual)
        self.point_residual = residual

    # ------------------------------------------------------------------ predictions
    def additive(self, architectures: Sequence[Architecture], coefficients: np.ndarray | None = None) -> np.ndarray:
        coefficients = self.coefficients if coefficients is None else coefficients
        padded = np.concatenate([coefficients, [0.0]])
        features = self.feature_indices(architectures)
        return padded[np.where(features >= 0, features, self.num_features)].sum(axis=1)

    def _interaction_mean(self, encoded: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """k(x, points) α for many x without (n, points) float64 temporaries: with m the agreement counts,
        k α = s1/E (m α) + s2/(E(E-1)) ((m² - m) α)."""
        e = self.num_decisions
        points = self._onehot(self.point_encoded).T
        alpha = self.alpha.astype(np.float32)
        out = np.empty(encoded.shape[0])
        pair_scale = self.s_pairwise / (e * (e - 1)) if e > 1 else 0.0
        for first in range(0, encoded.shape[0], chunk):
            matches = self._onehot(encoded[first:first + chunk]) @ points
            linear = matches @ alpha
            squared = (matches * matches) @ alpha
            out[first:first + chunk] = (self.s_linear / e - pair_scale) * linear + pair_scale * squared
        return out

    def predict(self, architectures: Sequence[Architecture], return_std: bool = False):
        """Model prediction (normal-score units, intercepts left out): additive + interactions. With
        ``return_std`` also the interaction part's posterior standard deviation."""
        archs = np.atleast_2d(np.asarray(architectures, dtype=np.int64))
        if not return_std and archs.shape[0] > 512:
            return self.additive(archs) + self._interaction_mean(self.encoded(archs))
        linear, pairwise = self._kernels(self.encoded(archs), self.point_encoded)
        cross = self.s_linear * linear + self.s_pairwise * pairwise
        mean = self.additive(archs) + cross @ self.alpha
        if not return_std:
            return mean
        solved = self._gp_factor_inverse @ cross.T
        prior = self.s_linear + self.s_pairwise
        variance = np.maximum(prior - (solved**2).sum(axis=0), 0.0)
        return mean, np.sqrt(variance)

    def distinct_rows(self, fitted: bool = True) -> np.ndarray:
        """(D, E) evaluated architectures, in the order of ``distinct_architectures`` (those of the last fit)."""
        return self._distinct_rows[: self.fitted_distinct if fitted else len(self.distinct_architectures)]

    def distinct_active(self) -> np.ndarray:
        """(D, E) active mask of :meth:`distinct_rows` (computed once per fit)."""
        if getattr(self, "_distinct_active", None) is None or len(self._distinct_active) != self.fitted_distinct:
            self._distinct_active = self.distinct_features >= 0
        return self._distinct_active

    def estimates(self, optimistic: bool = False) -> tuple[list[Architecture], np.ndarray, np.ndarray]:
        """Per distinct evaluated architecture: (architectures, estimate, times evaluated); see the module doc.

        The default weighs a network's own scores against the model with :attr:`answer_noise` (what ENG and the
        answer use); ``optimistic=True`` with the measured noise alone (the search's incumbent)."""
        if self._estimates is None:  # once per fit
            keys = self.distinct_architectures[: self.fitted_distinct]
            predicted = self.predict(self._distinct_rows[: self.fitted_distinct])
            own = self.means - predicted
            self._estimates, counts = {}, self.counts.copy()
            for key, noise in ((True, self.noise), (False, self.answer_noise)):
                weight = self.s_distinct / (self.s_distinct + noise / counts)
                self._estimates[key] = (list(keys), predicted + weight * own, counts)
        return self._estimates[bool(optimistic)]  # shared: callers must not modify them

    def effects(self, coefficients: np.ndarray | None = None) -> np.ndarray:
        """Additive candidate effects as an (E, Kmax) array, 0 where a candidate does not exist."""
        coefficients = self.coefficients if coefficients is None else coefficients
        out = np.zeros((self.space.num_decisions, self.space.max_candidates))
        for e, size in enumerate(self.space.sizes):
            out[e, :size] = coefficients[self.offsets[e]: self.offsets[e] + size]
        return out

    def sample_coefficients(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of the additive effects from their Gaussian posterior (Thompson sampling)."""
        if self._effect_covariance_factor is None:
            covariance = self._inverse_features * self.residual_variance
            covariance = (covariance + covariance.T) / 2.0
            self._effect_covariance_factor = np.linalg.cholesky(covariance + 1e-10 * np.eye(self.num_features))
        return self.coefficients + self._effect_covariance_factor @ rng.standard_normal(self.num_features)

    def sample_effects(self, rng: np.random.Generator) -> np.ndarray:
        return self.effects(self.sample_coefficients(rng))

    def encode_coefficients(self, coefficients: np.ndarray) -> np.ndarray:
        """Additive coefficients laid out over the encoded candidates (0 for "inactive")."""
        out = np.zeros(self.num_encoded)
        for d in range(self.num_decisions):
            size = self.space.sizes[d]
            out[self.encoded_offsets[d]: self.encoded_offsets[d] + size] = \
                coefficients[self.offsets[d]: self.offsets[d] + size]
        return out

    def pairwise(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted model as explicit terms over the encoded candidates (inactive = one extra value):
        ``unary`` (num_encoded,) and ``pair`` (num_encoded, num_encoded) symmetric with zero diagonal blocks, such
        that ``predict(x) = Σ_e unary[o_e + x_e] + Σ_{e<f} pair[o_e + x_e, o_f + x_f]`` exactly."""
        e = self.num_decisions
        onehot = np.zeros((len(self.points), self.num_encoded))
        rows = np.repeat(np.arange(len(self.points)), e)
        onehot[rows, (self.encoded_offsets[None, :] + self.point_encoded).ravel()] = 1.0
        unary = self.encode_coefficients(self.coefficients)
        unary += (self.s_linear / e) * (onehot.T @ self.alpha)
        pair = np.zeros((self.num_encoded, self.num_encoded))
        if e > 1 and self.s_pairwise > 0:
            pair = (2.0 * self.s_pairwise / (e * (e - 1))) * ((onehot * self.alpha[:, None]).T @ onehot)
            for d in range(e):
                block = slice(self.encoded_offsets[d], self.encoded_offsets[d] + self.encoded_sizes[d])
                pair[block, block] = 0.0
        return unary, pair

