"""The categorical distribution θ over live candidates, its momentum update (Eq. 4-5) and pruning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ddp_core.space import Architecture, SearchSpace

Normalization = Literal["sum", "softmax"]


def masked_softmax(values: np.ndarray, mask: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``values / temperature`` over ``mask``; zero outside it.

    Rows without any True entry come back as zeros.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = np.where(mask, values / temperature, -np.inf)
    row_max = np.max(scaled, axis=1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exp = np.where(mask, np.exp(scaled - row_max), 0.0)
    total = exp.sum(axis=1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def normalize_rows(values: np.ndarray, mask: np.ndarray, method: Normalization) -> np.ndarray:
    """Make each row a distribution over ``mask``.

    ``"sum"`` divides by the row sum (what the authors' released code does); ``"softmax"`` takes a softmax
    of the row (what the paper writes).
    """
    if method == "sum":
        masked = np.where(mask, values, 0.0)
        total = masked.sum(axis=1, keepdims=True)
        return np.divide(masked, total, out=np.zeros_like(masked), where=total > 0)
    if method == "softmax":
        return masked_softmax(values, mask, 1.0)
    raise ValueError(f"normalization must be 'sum' or 'softmax', got {method!r}")


def momentum_update(
    theta: np.ndarray,
    velocity: np.ndarray,
    utility: np.ndarray,
    live: np.ndarray,
    *,
    momentum: float,
    temperature: float,
    normalization: Normalization,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One DDPNAS update (Eq. 4-5), pure.

    ``V <- γ V + (1 - γ) softmax(U / τ)`` over live candidates, then ``θ <- normalize(θ + V)``.

    Parameters
    ----------
    theta, velocity, utility : (E, Kmax) arrays
    live : (E, Kmax) bool
    momentum : float
        γ in [0, 1).
    temperature : float
        τ > 0; utilities are divided by it before the softmax.
    normalization : {"sum", "softmax"}
    rows : (E,) bool, optional
        Only these decisions are updated (the rest keep θ and V); default all.

    Returns
    -------
    (theta, velocity) : new arrays
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum γ must be in [0, 1), got {momentum}")
    rows = np.ones(theta.shape[0], dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    utility = np.where(live, utility, 0.0)
    if not np.all(np.isfinite(utility)):
        raise ValueError("utility has non-finite values on live candidates; every score must be a finite number")
    target = masked_softmax(utility, live, temperature)
    new_velocity = np.where(live, momentum * velocity + (1.0 - momentum) * target, 0.0)
    new_theta = normalize_rows(theta + new_velocity, live, normalization)
    keep = ~rows[:, None]
    return np.where(keep, theta, new_theta), np.where(keep, velocity, new_velocity)


def prunable_mask(space: SearchSpace, live: np.ndarray) -> np.ndarray:
    """(E, Kmax) bool: live candidates whose removal keeps every floor (tag floors, one candidate left)."""
    floor = np.minimum(space.sizes, space.min_live)[:, None]
    allowed = live & (live.sum(axis=1, keepdims=True) > np.maximum(floor, 1))
    for tag, floors in space.floor_counts().items():
        tagged = space.tag_mask(tag)
        live_tagged = (live & tagged).sum(axis=1)
        at_floor = live_tagged <= floors
        allowed &= ~(tagged & at_floor[:, None])
    return allowed


def choose_pruned(theta: np.ndarray, prunable: np.ndarray) -> np.ndarray:
    """Per decision, the prunable candidate of smallest θ (ties: the lowest index), or -1 if none."""
    masked = np.where(prunable, theta, np.inf)
    choice = np.argmin(masked, axis=1)
    return np.where(prunable.any(axis=1), choice, -1)


@dataclass
class CategoricalDistribution:
    """θ (E x Kmax), the momentum V, and the live mask, with state_dict round trips.

    ``pruned_theta`` keeps the θ each pruned candidate had when it was pruned, so that ENG over the full
    space can still rank candidates pruned early below those pruned late.
    """

    theta: np.ndarray
    velocity: np.ndarray
    live: np.ndarray
    pruned_theta: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.pruned_theta is None:
            self.pruned_theta = np.zeros_like(self.theta, dtype=np.float64)

    def generation_theta(self, live_only: bool = True) -> np.ndarray:
        """θ used by ENG: live θ, plus the θ at pruning time for pruned candidates when ``live_only`` is False."""
        if live_only:
            return np.where(self.live, self.theta, 0.0)
        return np.where(self.live, self.theta, self.pruned_theta)

    @classmethod
    def uniform(cls, space: SearchSpace) -> CategoricalDistribution:
        live = space.full_mask()
        theta = live / live.sum(axis=1, keepdims=True)
        return cls(theta.astype(np.float64), np.zeros_like(theta, dtype=np.float64), live)

    def live_candidates(self, decision: int) -> np.ndarray:
        return np.flatnonzero(self.live[decision])

    @property
    def live_counts(self) -> np.ndarray:
        return self.live.sum(axis=1)

    def best_architecture(self) -> Architecture:
        """Argmax θ over live candidates, per decision (ties: lowest index)."""
        return tuple(int(k) for k in np.argmax(np.where(self.live, self.theta, -np.inf), axis=1))

    def probabilities(self) -> np.ndarray:
        return np.where(self.live, self.theta, 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {
            "theta": self.theta.tolist(), "velocity": self.velocity.tolist(), "live": self.live.tolist(),
            "pruned_theta": self.pruned_theta.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        theta = np.asarray(state["theta"], dtype=np.float64)
        if theta.shape != self.theta.shape:
            raise ValueError(f"saved θ has shape {theta.shape}, this space needs {self.theta.shape}")
        self.theta = theta
        self.velocity = np.asarray(state["velocity"], dtype=np.float64)
        self.live = np.asarray(state["live"], dtype=bool)
        self.pruned_theta = np.asarray(state.get("pruned_theta", np.zeros_like(theta)), dtype=np.float64)
