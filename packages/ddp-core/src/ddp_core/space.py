"""Search spaces seen through a small protocol: decisions, named candidates, tags, conditions, costs."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Architecture = tuple[int, ...]


@dataclass(frozen=True)
class Candidate:
    """One option of a decision (an op, a block, a width).

    Parameters
    ----------
    name : str
        Unique inside its decision.
    tags : tuple of str
        Free labels (DARTS: ``"param"`` / ``"nonparam"``) used by pruning floors and constraints.
    """

    name: str
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a candidate needs a non-empty string name, got {self.name!r}")
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass(frozen=True)
class Requires:
    """A decision is active only when ``decision`` takes one of ``candidates`` (by name)."""

    decision: str
    candidates: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))


@dataclass(frozen=True)
class Decision:
    """One place where the architecture chooses.

    Parameters
    ----------
    name : str
        Unique inside the space.
    candidates : sequence of Candidate or str
        The options; plain strings become untagged candidates.
    requires : Requires, optional
        When set, the decision is inactive (not credited, no cost) unless the condition holds.
    """

    name: str
    candidates: tuple[Candidate, ...]
    requires: Requires | None = None

    def __post_init__(self) -> None:
        candidates = tuple(c if isinstance(c, Candidate) else Candidate(str(c)) for c in self.candidates)
        if not candidates:
            raise ValueError(f"decision {self.name!r} has no candidates; give it at least one")
        names = [c.name for c in candidates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"decision {self.name!r} repeats candidate names {duplicates}; names must be unique")
        object.__setattr__(self, "candidates", candidates)

    @property
    def candidate_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.candidates)

    def index(self, candidate_name: str) -> int:
        try:
            return self.candidate_names.index(candidate_name)
        except ValueError:
            raise KeyError(
                f"decision {self.name!r} has no candidate {candidate_name!r}; known: {list(self.candidate_names)}"
            ) from None


@dataclass
class SearchSpace:
    """The decisions of a search, the pruning floors per tag, and free metadata.

    Parameters
    ----------
    decisions : sequence of Decision
    tag_floors : mapping of tag to int
        Pruning never leaves a decision with fewer live candidates of that tag than the floor
        (DARTS keeps one ``param`` and one ``nonparam`` op per edge). A decision that has no candidate of
        a tag is unaffected by that tag's floor.
    metadata : dict
        JSON-serialisable facts a domain package needs to rebuild its objects (``kind``, ``generator``, ...).
    min_live : int
        Pruning stops at this many live candidates per decision (default 1). Keep more when ENG should still
        choose inside the pruned space (layer-wise spaces under FLOPs budgets).
    """

    decisions: Sequence[Decision]
    tag_floors: Mapping[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    min_live: int = 1

    def __post_init__(self) -> None:
        self.decisions = tuple(self.decisions)
        if not self.decisions:
            raise ValueError("a search space needs at least one decision")
        names = [d.name for d in self.decisions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"decision names must be unique; repeated: {duplicates}")
        self._index = {name: i for i, name in enumerate(names)}
        self._size_array = np.array([len(d.candidates) for d in self.decisions], dtype=np.int64)
        known_tags = {tag for d in self.decisions for c in d.candidates for tag in c.tags}
        for tag, floor in dict(self.tag_floors).items():
            if tag not in known_tags:
                raise ValueError(
                    f"tag_floors names tag {tag!r}, which no candidate carries; known tags: {sorted(known_tags)}"
                )
            if isinstance(floor, bool) or not isinstance(floor, numbers.Integral) or floor < 0:
                raise ValueError(f"tag floor for {tag!r} must be an integer >= 0, got {floor!r}")
            for decision in self.decisions:
                tagged = sum(tag in c.tags for c in decision.candidates)
                if 0 < tagged < floor:
                    raise ValueError(
                        f"tag floor {tag!r}={floor} is above the {tagged} candidate(s) of decision {decision.name!r} "
                        f"that carry it; lower the floor or tag more candidates"
                    )
        self.tag_floors = {tag: int(floor) for tag, floor in dict(self.tag_floors).items()}
        if isinstance(self.min_live, bool) or not isinstance(self.min_live, numbers.Integral) or self.min_live < 1:
            raise ValueError(f"min_live must be an integer >= 1, got {self.min_live!r}")
        self.min_live = int(self.min_live)
        for decision in self.decisions:
            condition = decision.requires
            if condition is None:
                continue
            if condition.decision not in self._index:
                raise ValueError(f"decision {decision.name!r} requires unknown decision {condition.decision!r}")
            parent = self.decisions[self._index[condition.decision]]
            if parent.requires is not None:
                raise ValueError(
                    f"decision {decision.name!r} requires {parent.name!r}, which is itself conditional; "
                    "conditions may only name unconditional decisions"
                )
            for name in condition.candidates:
                parent.index(name)
        self._controller_values = {
            i: frozenset(self.decisions[self._index[d.requires.decision]].index(n) for n in d.requires.candidates)
            for i, d in enumerate(self.decisions)
            if d.requires is not None
        }

    # ----------------------------------------------------------------- shape
    @property
    def num_decisions(self) -> int:
        return len(self.decisions)

    @property
    def sizes(self) -> np.ndarray:
        """Number of candidates of each decision, shape (E,)."""
        return np.array([len(d.candidates) for d in self.decisions], dtype=np.int64)

    @property
    def max_candidates(self) -> int:
        return int(self.sizes.max())

    def decision_index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no decision named {name!r}; known: {list(self._index)[:10]}...") from None

    def full_mask(self) -> np.ndarray:
        """Boolean (E, Kmax): True where a candidate exists."""
        mask = np.zeros((self.num_decisions, self.max_candidates), dtype=bool)
        for e, size in enumerate(self.sizes):
            mask[e, :size] = True
        return mask

    def tag_mask(self, tag: str) -> np.ndarray:
        """Boolean (E, Kmax): True where the candidate carries ``tag``."""
        mask = np.zeros((self.num_decisions, self.max_candidates), dtype=bool)
        for e, decision in enumerate(self.decisions):
            for k, candidate in enumerate(decision.candidates):
                mask[e, k] = tag in candidate.tags
        return mask

    # ------------------------------------------------------- architectures
    @property
    def controllers(self) -> tuple[int, ...]:
        """Indices of decisions that other decisions' activity depends on."""
        return tuple(sorted({self._index[d.requires.decision] for d in self.decisions if d.requires is not None}))

    def active_mask(self, architecture: Sequence[int]) -> np.ndarray:
        """Which decisions are active (credited, costed) in ``architecture``, shape (E,)."""
        self.validate(architecture)
        active = np.ones(self.num_decisions, dtype=bool)
        for e, allowed in self._controller_values.items():
            parent = self._index[self.decisions[e].requires.decision]
            active[e] = architecture[parent] in allowed
        return active

    def validate(self, architecture: Sequence[int]) -> Architecture:
        """Return ``architecture`` as a tuple of ints, or raise naming what is wrong."""
        if len(architecture) != self.num_decisions:
            raise ValueError(
                f"an architecture needs one candidate index per decision ({self.num_decisions}), "
                f"got {len(architecture)}"
            )
        values = np.asarray(architecture)
        if values.dtype.kind in "iu" and values.ndim == 1:  # the common case, checked without a Python loop
            if bool(((values >= 0) & (values < self._size_array)).all()):
                return tuple(values.tolist())
        result = tuple(int(k) for k in architecture)
        for e, k in enumerate(result):
            if not 0 <= k < len(self.decisions[e].candidates):
                raise ValueError(
                    f"decision {self.decisions[e].name!r} has {len(self.decisions[e].candidates)} candidates; "
                    f"index {k} is out of range"
                )
        return result

    def describe(self, architecture: Sequence[int]) -> dict[str, str]:
        """Map decision name to chosen candidate name, inactive decisions omitted."""
        active = self.active_mask(architecture)
        return {
            d.name: d.candidates[k].name
            for d, k, on in zip(self.decisions, architecture, active, strict=True)
            if on
        }

    def architecture_from_names(self, choices: Mapping[str, str]) -> Architecture:
        """Inverse of :meth:`describe`; decisions not named take candidate 0."""
        unknown = set(choices) - set(self._index)
        if unknown:
            raise KeyError(f"unknown decisions {sorted(unknown)}")
        return tuple(
            d.index(choices[d.name]) if d.name in choices else 0 for d in self.decisions
        )

    def all_architectures(self, live: np.ndarray | None = None) -> Iterable[Architecture]:
        """Every architecture over live candidates (small spaces only; used by tests and brute force)."""
        mask = self.full_mask() if live is None else np.asarray(live, dtype=bool)
        options = [np.flatnonzero(mask[e]).tolist() for e in range(self.num_decisions)]
        import itertools

        return (tuple(a) for a in itertools.product(*options))

    # ------------------------------------------------------------ floors
    def floor_counts(self) -> dict[str, np.ndarray]:
        """Per tag, the floor each decision must keep: min(floor, number of that tag's candidates)."""
        return {
            tag: np.minimum(self.tag_mask(tag).sum(axis=1), floor) for tag, floor in self.tag_floors.items()
        }

    # ----------------------------------------------------------------- io
    def to_dict(self) -> dict[str, Any]:
        return {
            "decisions": [
                {
                    "name": d.name,
                    "candidates": [{"name": c.name, "tags": list(c.tags)} for c in d.candidates],
                    "requires": None
                    if d.requires is None
                    else {"decision": d.requires.decision, "candidates": list(d.requires.candidates)},
                }
                for d in self.decisions
            ],
            "tag_floors": dict(self.tag_floors),
            "min_live": self.min_live,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        decisions = [
            Decision(
                d["name"],
                tuple(Candidate(c["name"], tuple(c.get("tags", ()))) for c in d["candidates"]),
                None if d.get("requires") is None else Requires(d["requires"]["decision"], d["requires"]["candidates"]),
            )
            for d in data["decisions"]
        ]
        return cls(decisions, data.get("tag_floors", {}), dict(data.get("metadata", {})), int(data.get("min_live", 1)))

    def signature(self) -> dict[str, Any]:
        """What must match for a run directory to be resumed with this space (metadata excluded)."""
        data = self.to_dict()
        data.pop("metadata")
        return data


@dataclass
class CostTable:
    """An additive cost: ``fixed + sum over active decisions e of per_candidate[e][architecture[e]]``.

    Parameters
    ----------
    name : str
        With its unit, e.g. ``"flops_m"``, ``"params_m"``, ``"latency_ms"``.
    fixed : float
        The part every architecture pays (stem, head, embeddings).
    per_candidate : sequence of sequences of float
        One row per decision, one value per candidate of that decision.
    """

    name: str
    fixed: float
    per_candidate: Sequence[Sequence[float]]

    def __post_init__(self) -> None:
        rows = [np.asarray(row, dtype=np.float64) for row in self.per_candidate]
        for e, row in enumerate(rows):
            if row.ndim != 1 or not np.all(np.isfinite(row)):
                raise ValueError(f"cost table {self.name!r}: row {e} must be a 1-d list of finite numbers")
        self.per_candidate = rows
        self.fixed = float(self.fixed)

    def check(self, space: SearchSpace) -> None:
        if len(self.per_candidate) != space.num_decisions:
            raise ValueError(
                f"cost table {self.name!r} has {len(self.per_candidate)} rows; the space has "
                f"{space.num_decisions} decisions"
            )
        for e, (row, decision) in enumerate(zip(self.per_candidate, space.decisions, strict=True)):
            if len(row) != len(decision.candidates):
                raise ValueError(
                    f"cost table {self.name!r}: decision {e} ({decision.name!r}) has {len(decision.candidates)} "
                    f"candidates but {len(row)} costs"
                )

    def matrix(self, space: SearchSpace) -> np.ndarray:
        """Costs as an (E, Kmax) array (0 where a candidate does not exist)."""
        self.check(space)
        out = np.zeros((space.num_decisions, space.max_candidates))
        for e, row in enumerate(self.per_candidate):
            out[e, : len(row)] = row
        return out

    def __call__(self, space: SearchSpace, architecture: Sequence[int]) -> float:
        active = space.active_mask(architecture)
        return self.fixed + float(
            sum(self.per_candidate[e][k] for e, k in enumerate(architecture) if active[e])
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fixed": self.fixed, "per_candidate": [row.tolist() for row in self.per_candidate]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostTable:
        return cls(data["name"], data["fixed"], data["per_candidate"])
