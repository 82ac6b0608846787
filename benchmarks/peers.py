"""The methods of the search-quality benchmarks, each returning its whole history of (architecture, score).

DDPNAS presets run through ask/tell; peers: random search, regularized evolution (Real et al.; population 10,
tournament 5, one mutated decision per child, the oldest dies) and optuna's TPESampler (seeded). Peers answer
with their best observed single score's architecture, as their libraries do (``best_observed``), or, for a
budget, with the best observed one that meets it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ddp_core import DDPSearch, SearchConfig

PEERS = ("random", "rea", "tpe")


def run_ddpnas(problem, utility: str, rounds: int, seed: int, costs=None, rise_per_stage: float = 0.0, **config):
    """The finished DDPSearch (its ``result()`` and records); scores drawn from the problem's oracle. ``costs``:
    the cost tables of ``budgets`` (budgets known before the search). ``rise_per_stage``: added to every score
    per stage (a supernet's scores rising as it trains)."""
    rng = np.random.default_rng(10_000 + seed)
    search = DDPSearch(problem.space(), config=SearchConfig(utility=utility, rounds_per_stage=rounds, seed=seed, **config),
                       higher_is_better=True, costs=costs)
    while not search.finished:
        for architecture in search.ask():
            search.tell(architecture, problem.score(architecture, rng) + rise_per_stage * search.stage)
    return search


def random_architecture(problem, rng):
    return tuple(int(rng.integers(s)) for s in problem.sizes)


def run_random(problem, budget: int, seed: int) -> list:
    rng = np.random.default_rng(20_000 + seed)
    return [(a, problem.score(a, rng)) for a in (random_architecture(problem, rng) for _ in range(budget))]


def run_rea(problem, budget: int, seed: int, population_size: int = 10, tournament: int = 5) -> list:
    """Regularized evolution (Real et al., 2019): the oldest member dies; one mutated decision per child."""
    rng = np.random.default_rng(30_000 + seed)
    population: deque = deque()
    history = []
    while len(history) < budget:
        if len(population) < population_size:
            child = random_architecture(problem, rng)
        else:
            entrants = [population[i] for i in rng.choice(len(population), size=tournament, replace=False)]
            parent = list(max(entrants, key=lambda item: item[1])[0])
            e = int(rng.integers(len(parent)))
            parent[e] = int(rng.choice([k for k in range(problem.sizes[e]) if k != parent[e]]))
            child = tuple(parent)
        item = (child, problem.score(child, rng))
        population.append(item)
        history.append(item)
        if len(population) > population_size:
            population.popleft()
    return history


def run_tpe(problem, budget: int, seed: int) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(40_000 + seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial):
        architecture = tuple(trial.suggest_categorical(f"d{e}", list(range(s))) for e, s in enumerate(problem.sizes))
        return problem.score(architecture, rng)

    study.optimize(objective, n_trials=budget)
    return [(tuple(t.params[f"d{e}"] for e in range(len(problem.sizes))), float(t.value)) for t in study.trials]


PEER_RUNNERS = {"random": run_random, "rea": run_rea, "tpe": run_tpe}


def best_observed(history: list, allowed=None):
    """The architecture of the best single observed score (among those ``allowed(architecture)`` accepts);
    None when no observation is allowed."""
    candidates = [item for item in history if allowed is None or allowed(item[0])]
    return max(candidates, key=lambda item: item[1])[0] if candidates else None


def best_mean_observed(history: list, allowed=None):
    """The architecture with the best mean of its observed scores (the search's own records: it re-scores)."""
    scores: dict = {}
    for architecture, score in history:
        if allowed is None or allowed(architecture):
            scores.setdefault(tuple(architecture), []).append(score)
    return max(scores, key=lambda a: np.mean(scores[a])) if scores else None


def rescored(history: list) -> int:
    """Evaluations spent on architectures already scored before."""
    return len(history) - len({tuple(a) for a, _ in history})
