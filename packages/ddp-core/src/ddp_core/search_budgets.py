"""Budgets known before the search: the default preset's target slots spend their evaluations on networks that
meet them (as OFA / ProxylessNAS users expect); ENG afterwards still answers any budget.

``DDPSearch(space, config=SearchConfig(budgets=[{"flops_m": 40.0}, ...]), costs={"flops_m": table})``. Only the
``joint`` preset's *target* slots change (:func:`ddp_core.joint.targets`): slot ``i`` of a round serves budget
``(evaluations so far + i) mod B`` (round robin), and

- the incumbent-change slot starts from the best evaluated network that meets that budget (inside the live
  space where one does, else anywhere) and only proposes one-decision changes that stay within it;
- the model slot is the exact argmax of the model (sampled additive effects, as without budgets) under that
  budget among unevaluated networks, over the live space where a live network meets it, else the full space
  (:func:`ddp_core.recommend.maximise_pairwise`, the search of :func:`ddp_core.recommend.recommend`);
- tournament slots take children of the best evaluated networks that meet that budget, within it.

θ's sampling is untouched: every live candidate of every decision is still drawn every round. Targets after
the first prefer candidates the round's columns still hold once the earlier targets took theirs, so the sampler
places them exactly; :func:`enforce` then makes each target slot its target (swapping candidates with a sampling
slot, or taking the place of a duplicate: the column keeps every candidate). Only a target that needs a pruned
candidate (no live network meets its budget) in a column without a spare copy displaces a live candidate from
that round. ``paper`` and ``authors`` refuse budgets (:class:`ddp_core.config.SearchConfig`).

Costs without budgets (``DDPSearch(space, costs={...})``, what the tools pass): the search serves *every* budget,
as ENG promises. The round's targets are :func:`ddp_core.joint.targets`'; then each target slot, with probability
:data:`SPREAD_SHARE`, takes instead a target inside a budget drawn at random across the space's cost range (one
cost, at a quantile uniform in :data:`SPREAD_QUANTILES` of the costs of uniformly random architectures); so the networks ENG answers tight budgets with are evaluated,
not extrapolated. Without costs (or with ``paper`` / ``authors``) nothing here runs: the search is bit-identical
to one without this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ddp_core import joint
from ddp_core.infeasibility import InfeasibleBudgetError
from ddp_core.recommend import CountConstraint, _evaluated_costs, maximise_pairwise, obeys_all
from ddp_core.sampling import active_matrix
from ddp_core.search_rules import check_rules, check_under_rules, sample_obeying
from ddp_core.space import Architecture, CostTable, SearchSpace

SAMPLED_MODEL_TARGET = True  # the budgeted model slot uses sampled additive effects, as the unbudgeted one does
TARGET_NODES = 300  # above joint.EXACT_TARGET_DECISIONS decisions: a budgeted target is the best found in this
# many branch-and-bound nodes (no time limit: the same on every machine, so a resumed search repeats its rounds)
SPREAD_SHARE = 0.5  # costs without budgets: share of target slots serving a random budget across the cost range
SPREAD_QUANTILES = (0.02, 0.9)  # ... at a quantile uniform in this range of random architectures' costs
SPREAD_SAMPLES = 4096  # random architectures whose costs give those quantiles (fixed seed: reproducible)


def check_budgets(budgets: Any) -> list[dict[str, float]] | None:
    """``SearchConfig.budgets`` as a list of ``{cost name: positive finite bound}`` (None: no budgets)."""
    if budgets is None:
        return None
    if isinstance(budgets, Mapping) or not isinstance(budgets, Sequence) or isinstance(budgets, str):
        raise ValueError("budgets must be a list of mappings such as [{'flops_m': 40.0}, {'params_m': 1.5}], got "
                         f"{budgets!r}")
    if not budgets:
        raise ValueError("budgets is an empty list; leave it None for a search without budgets")
    out = []
    for budget in budgets:
        if not isinstance(budget, Mapping):
            raise ValueError(f"each budget must be a mapping cost name -> bound, got {budget!r}")
        row = {}
        for name, value in budget.items():
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if not isinstance(name, str) or number is None or not np.isfinite(number) or number <= 0:
                raise ValueError(f"budget {dict(budget)!r}: each entry must be a cost name and a positive finite "
                                 f"number, got {name!r}: {value!r}")
            row[name] = float(number)
        out.append(row)
    return out


def costs_to_dict(costs: Mapping[str, CostTable]) -> dict[str, dict[str, Any]]:
    """JSON form of cost tables (what a run directory saves and compares on resume)."""
    return {name: {"fixed": float(t.fixed), "per_candidate": [[float(v) for v in row] for row in t.per_candidate]}
            for name, t in costs.items()}


@dataclass
class SearchBudgets:
    """The budgets a search is told before it starts, with the cost tables they name."""

    budgets: list[dict[str, float]]
    costs: dict[str, CostTable]
    spread: dict[str, np.ndarray] | None = None  # costs without budgets: sorted costs of random architectures
    rules: tuple[CountConstraint, ...] = ()  # counting rules every budgeted target obeys (the DARTS cell rule)

    @classmethod
    def prepare(cls, space: SearchSpace, budgets: list[dict[str, float]] | None,
                costs: Mapping[str, CostTable] | None, utility: str = "joint",
                rules: Sequence[CountConstraint] = ()) -> SearchBudgets | None:
        """Checked budgets; with costs but no budgets the spread over the cost range (``joint`` only); None
        otherwise. Refuses a budget naming a cost it was not given, and a budget no architecture of the space
        meets (one line naming the smallest achievable value). ``rules``: counting constraints every budgeted
        target obeys (what the user's networks obey, e.g. the DARTS cell rule); the spread's cost range is then
        that of random architectures obeying them."""
        rules = check_rules(space, rules)
        if rules and not costs:
            raise ValueError("count_constraints shape the targets of budgets, which need costs: pass "
                             "DDPSearch(costs={name: CostTable}) as well, or leave count_constraints out")
        if budgets is None:
            if not costs or utility != "joint" or SPREAD_SHARE <= 0:
                return None
            return cls.across_range(space, costs, rules)
        costs = dict(costs or {})
        names = list(dict.fromkeys(name for budget in budgets for name in budget))
        missing = [n for n in names if n not in costs]
        if missing:
            known = ", ".join(costs) or "none"
            raise ValueError(f"budgets name {', '.join(missing)} but no cost table of that name was given "
                             f"(DDPSearch(costs={{name: CostTable}}); given: {known})")
        used = {n: costs[n] for n in names}
        for table in used.values():
            table.check(space)
        from ddp_core.distribution import CategoricalDistribution
        from ddp_core.generation import InfeasibleBudget, generate

        uniform = CategoricalDistribution.uniform(space)
        for entry in generate(space, uniform, used, budgets, live_only=False, on_infeasible="report"):
            if isinstance(entry, InfeasibleBudget):
                raise InfeasibleBudgetError(f"budget known before the search: {entry.message}")
        if rules:
            check_under_rules(space, used, budgets, rules)
        return cls([dict(b) for b in budgets], used, rules=rules)

    @classmethod
    def across_range(cls, space: SearchSpace, costs: Mapping[str, CostTable],
                     rules: Sequence[CountConstraint] = ()) -> SearchBudgets:
        """Costs without budgets: the sorted costs of :data:`SPREAD_SAMPLES` random architectures (uniform, or
        obeying ``rules``: :func:`sample_obeying`)."""
        tables = dict(costs)
        for table in tables.values():
            table.check(space)
        archs = sample_obeying(space, tuple(rules), np.random.default_rng(0), SPREAD_SAMPLES)
        spent = _evaluated_costs(space, list(tables.values()), archs, active_matrix(space, archs))
        return cls([], tables, {name: np.sort(spent[:, j]) for j, name in enumerate(tables)}, tuple(rules))

    def draw(self, rng: np.random.Generator, slots: int) -> SearchBudgets:
        """This round's budgets for ``slots`` target slots (spread mode): each a random budget across the cost
        range with probability :data:`SPREAD_SHARE`, else none."""
        names, low, high = list(self.spread), *SPREAD_QUANTILES
        drawn = []
        for _ in range(slots):
            if rng.random() < SPREAD_SHARE:
                name = names[int(rng.integers(len(names)))]
                drawn.append({name: float(np.quantile(self.spread[name], rng.uniform(low, high)))})
            else:
                drawn.append({})
        return SearchBudgets(drawn, self.costs, spread=self.spread, rules=self.rules)

    def rows(self) -> np.ndarray:
        """(B, C) bounds, +inf where a budget leaves a cost free."""
        return np.array([[b.get(n, np.inf) for n in self.costs] for b in self.budgets], dtype=np.float64)

    def costs_of(self, space: SearchSpace, architectures: np.ndarray, active: np.ndarray) -> np.ndarray:
        return _evaluated_costs(space, list(self.costs.values()), architectures, active)

    def meets(self, space: SearchSpace, architectures: Sequence[Architecture], index: int) -> np.ndarray:
        """Whether each architecture meets budget ``index`` (and obeys the rules)."""
        archs = np.asarray(architectures, dtype=np.int64).reshape(len(architectures), space.num_decisions)
        active = active_matrix(space, archs)
        spent = self.costs_of(space, archs, active)
        return np.all(spent <= self.rows()[index][None, :] + 1e-9, axis=1) & self.obeyed(archs, active)

    def obeyed(self, architectures: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Whether each architecture obeys every rule."""
        return obeys_all(self.rules, architectures, active)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return costs_to_dict(self.costs)


def guaranteed_copies(space: SearchSpace, pools: Sequence[Sequence[int]], live: np.ndarray, size: int) -> np.ndarray:
    """(E, Kmax): how often the next round's column of each decision surely holds each candidate. Every live
    candidate once; an unconditional decision with fewer live candidates than the round has slots fills the rest
    from its pool, whose next entries are known (a refill is random: not counted)."""
    copies = live.astype(np.int64)
    conditional = set(space.controllers) | {e for e, d in enumerate(space.decisions) if d.requires is not None}
    for e in range(space.num_decisions):
        if e in conditional:
            continue
        extra = size - int(live[e].sum())
        pool = [k for k in pools[e] if live[e, k]]
        for k in pool[::-1][:max(extra, 0)]:  # the sampler pops from the end
            copies[e, k] += 1
    return copies


def _budgeted_optimum(cache: joint.ModelCache, masks: Sequence[np.ndarray], avoid, rng: np.random.Generator,
                      budgets: SearchBudgets, index: int) -> Architecture | None:
    """The model's argmax under budget ``index`` among unevaluated networks, over the first of ``masks`` where
    one exists (the candidates still free in the round's columns, the live space, the full space)."""
    model = cache.model
    unary, pair = cache.pairwise()
    if SAMPLED_MODEL_TARGET:
        unary = unary + model.encode_coefficients(model.sample_coefficients(rng) - model.coefficients)
    small = model.space.num_decisions <= joint.EXACT_TARGET_DECISIONS
    limits = {"time_limit_s": joint.GLOBAL_TIME_S} if small else {"time_limit_s": None, "node_limit": TARGET_NODES}
    for allowed in masks:
        if not allowed.any(axis=1).all():  # a decision with nothing left: no architecture under this mask
            continue
        found = maximise_pairwise(model.space, unary, pair, model.encoded_offsets, budgets.costs,
                                  [budgets.budgets[index]], allowed=allowed, exclude=avoid,
                                  count_constraints=budgets.rules, **limits)[0]
        if found.architecture is not None:
            return found.architecture
    return None


def targets(cache: joint.ModelCache, record, live: np.ndarray, size: int, rng: np.random.Generator,
            stage_start: bool, stage_evaluations: int, budgets: SearchBudgets, offset: int,
            pools: Sequence[Sequence[int]]) -> tuple[list[Architecture | None], list[np.ndarray | None], set[int],
                                                     list[int | None]]:
    """:func:`ddp_core.joint.targets` with every target slot inside its budget; also each slot's budget index
    (None for a slot without a target). Targets after the first prefer candidates the round's columns still
    hold after the earlier targets took theirs (``pools``: the sampler's), so that all can be exact without
    taking a candidate out of the round."""
    model = cache.get(record)
    if model is None:
        return [], [], set(), []
    space = model.space
    keys, estimates, counts, order_live = joint.ranked_inside(model, live)
    order_all = joint.ranked_inside(model, space.full_mask())[3]
    spent = budgets.costs_of(space, model.distinct_rows(), model.distinct_active())
    obeyed = budgets.obeyed(model.distinct_rows(), model.distinct_active())
    bounds = budgets.rows()
    left = guaranteed_copies(space, pools, live, size)
    decisions = np.arange(space.num_decisions)
    avoid = joint._Avoid(model)
    chosen: list[Architecture | None] = []
    slot_budgets: list[int | None] = []
    rescore: set[int] = set()
    elites = max(1, int(round(joint.ELITE_FRACTION * size)))
    for slot in range(elites):
        b = (offset + slot) % len(budgets.budgets)
        if budgets.spread is not None and not budgets.budgets[b]:  # spread mode: this slot is joint.targets'
            chosen.append(None)
            slot_budgets.append(None)
            continue
        ok = np.all(spent <= bounds[b][None, :] + 1e-9, axis=1) & obeyed
        order = order_live[ok[order_live]]
        if not len(order):
            order = order_all[ok[order_all]]
        free = left > 0
        masks = (live & free, live, space.full_mask())

        def fits(rows: np.ndarray, b: int = b, free: np.ndarray = free) -> np.ndarray:
            return budgets.meets(space, rows, b) & np.all(free[decisions[None, :], rows], axis=1)

        if slot == 0 and stage_start and len(order) and joint._rescore_worth_it(model, estimates, counts, order,
                                                                                 stage_evaluations):
            child = keys[order[0]]
            rescore.add(0)
        else:
            child, parent = None, None
            if 0 < slot <= joint.GLOBAL_SLOTS or not len(order):
                child = _budgeted_optimum(cache, masks, avoid, rng, budgets, b)
                parent = keys[order[0]] if child is None and len(order) else None
            elif slot == 0:
                parent = keys[order[0]]
            else:
                pool = order[:joint.ELITE_POOL]
                entrants = rng.choice(len(pool), size=min(joint.TOURNAMENT, len(pool)), replace=False)
                parent = keys[pool[int(entrants.min())]]
            if parent is not None:
                child = joint.best_change(space, model, parent, live, avoid, rng, keep=fits)
                if child is not None and child in avoid:  # every change evaluated: a target would re-score it
                    child = None
                if child is None and not 0 < slot <= joint.GLOBAL_SLOTS:
                    child = _budgeted_optimum(cache, masks, avoid, rng, budgets, b)
        if child is not None:
            avoid.add(child)
            left[decisions, np.asarray(child)] -= 1
        chosen.append(child)
        slot_budgets.append(None if child is None else b)
    preferences: list[np.ndarray | None] = [None] * elites
    preferences += [model.sample_effects(rng) for _ in range(size - elites)]
    return chosen, preferences, rescore, slot_budgets


def round_targets(search, live: np.ndarray, size: int) -> tuple[list[Architecture | None], list[np.ndarray | None],
                                                               set[int], list[int | None]]:
    """The joint preset's targets of the next round of ``search`` (a DDPSearch): :func:`ddp_core.joint.targets`
    without budgets (unchanged, no slot budgets), :func:`targets` with them."""
    stage_start, stage_evaluations = search.round == 0 and search.stage > 0, search.stage_rounds * size
    if search.budgets is None:
        return (*joint.targets(search.model_cache, search.record, live, size, search.sampler.rng,
                               stage_start=stage_start, stage_evaluations=stage_evaluations), [])
    if search.budgets.spread is None:
        return targets(search.model_cache, search.record, live, size, search.sampler.rng, stage_start,
                       stage_evaluations, search.budgets, offset=search.steps, pools=search.sampler.pools)
    # spread: the unbudgeted targets, then the slots drawn to serve a budget take a target inside it
    chosen, preferences, rescore = joint.targets(search.model_cache, search.record, live, size, search.sampler.rng,
                                                 stage_start=stage_start, stage_evaluations=stage_evaluations)
    slot_budgets: list[int | None] = [None] * len(chosen)
    drawn = search.budgets.draw(search.sampler.rng, len(chosen))
    if any(drawn.budgets):
        inside, _, _, served = targets(search.model_cache, search.record, live, size, search.sampler.rng, False,
                                       stage_evaluations, drawn, offset=0, pools=search.sampler.pools)
        for slot, (target, b) in enumerate(zip(inside, served, strict=False)):
            if target is not None and b is not None and slot not in rescore:
                chosen[slot], slot_budgets[slot] = target, b
    return chosen, preferences, rescore, slot_budgets


def joint_round(search, live: np.ndarray, size: int) -> list[Architecture]:
    """The next round of a ``joint`` search: targets (:func:`round_targets`), the sampler's pairing, target slots
    made exactly their targets where they serve a budget (:func:`enforce`), then the repairs of
    :mod:`ddp_core.joint` (which leave target and re-score slots be)."""
    targets, preferences, rescore, slot_budgets = round_targets(search, live, size)
    architectures = search.sampler.sample_round(live, targets, preferences)
    if slot_budgets:
        architectures, rescore = enforce(search.space, architectures, targets, slot_budgets, rescore)
    if joint.REPAIR:
        architectures = joint.repair_round(search.space, architectures, search.model_cache.evaluated(search.record),
                                           rescore, search.sampler.rng)
        architectures = joint.replace_forced_repeats(search.model_cache, search.record, architectures, rescore,
                                                     search.sampler.rng)
    return architectures


def enforce(space: SearchSpace, architectures: list[Architecture], chosen: Sequence[Architecture | None],
            slot_budgets: Sequence[int | None], keep: set[int] = frozenset()) -> tuple[list[Architecture], set[int]]:
    """Make every target slot its target (on its active decisions) after the sampler paired the columns (see
    the module docstring); returns the round and ``keep`` plus the target slots (kept out of later repairs)."""
    rows = np.array(architectures, dtype=np.int64)
    targeted = [r for r, (a, b) in enumerate(zip(chosen, slot_budgets, strict=False)) if a is not None
                and b is not None and r < len(rows)]
    protected = set(targeted)
    free = [r for r in range(len(rows)) if r not in protected]
    for r in targeted:
        want = np.asarray(chosen[r], dtype=np.int64)
        for e in np.flatnonzero((rows[r] != want) & space.active_mask(tuple(int(k) for k in want))):
            holder = next((s for s in free if rows[s, e] == want[e]), None)
            if holder is not None:  # a swap with a sampling slot: the column keeps its multiset
                rows[[r, holder], e] = rows[[holder, r], e]
                continue
            column = rows[:, e].tolist()
            if column.count(column[r]) < 2:  # the displaced candidate must stay in the round
                spare = next((s for s in free if column.count(column[s]) > 1), None)
                if spare is not None:  # a sampling slot's duplicate makes room for it
                    rows[spare, e] = rows[r, e]
            rows[r, e] = want[e]
    return [tuple(int(k) for k in row) for row in rows], set(keep) | protected
