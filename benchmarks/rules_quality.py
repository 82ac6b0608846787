#!/usr/bin/env python
"""Rules the search's targets obey (``DDPSearch(count_constraints=...)``): does evaluating genotypes help ENG's
genotypes? A DARTS-like problem built from a seed, with the exact best genotype under every budget.

    python benchmarks/rules_quality.py [--seeds 30] [--rounds 5] [--noise 1.0] [--reference-s 2] [--processes 2]
                                       [--out benchmarks/results/rules_quality.json]

Space: two cells of 4 intermediate nodes (2 + 3 + 4 + 5 = 14 edges each, 28 decisions), 5 ops per edge
(``none``, ``skip``, ``conv3``, ``conv5``, ``pool``). The rule (what a user trains): per node exactly two incoming
edges take an op other than ``none`` (the DARTS cell rule, 8 ``CountConstraint``). True quality, defined on every
28-edge path the search samples (as a supernet scores paths): additive effects per (edge, op) (``none`` 0.5
lower on average) plus pairwise terms on 15% of the edge pairs (sd 0.5); a score adds Gaussian noise (sd
``--noise``). Cost ``params_m``: 0.5 fixed, ``conv3`` 1.0, ``conv5`` 2.5, the rest 0. Because the truth is
pairwise, ``ddp_core.recommend.maximise_pairwise`` with the rule searches the best genotype under each budget
(``--reference-s`` seconds per budget; 28 decisions are too many to prove it): an answer's gap is the best
*known* genotype (that search's or any method's answer, whichever is higher) minus the answer's truth.

Budgets: none, and ``params_m`` at the 10/25/50/75% quantiles of 4,096 random genotypes' costs. Three searches
per seed, the default preset at T rounds per stage, each answering every budget with
``result.generate(costs, budgets, count_constraints=rule)`` (ENG always keeps the rule):

- ``blind``: no costs (``DDPSearch`` without ``costs=``);
- ``costs``: given the cost table, no rules (its spread draws budgets over random *paths*' costs and its budgeted
  targets are paths, which are rarely genotypes);
- ``rules``: given the table and the rule (the spread: genotype targets under budgets across the cost range);
- ``told``: the four budgets known before the search, with the table and the rule, as ``tools/search_darts.py
  --budget params_m=...`` runs (target slots serve the budgets in turn with genotypes that meet them).

Printed per budget: mean / median gap of each (0 = the best known genotype) and the seeds where ``rules`` is at
least as good as each other; ``told`` against ``blind`` likewise.
"""

from __future__ import annotations

import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ddp_core import CostTable, DDPSearch, Decision, SearchConfig, SearchSpace
from ddp_core.recommend import CountConstraint, maximise_pairwise, obeys_all
from ddp_core.search_rules import sample_obeying

STEPS = 4
OPS = ("none", "skip", "conv3", "conv5", "pool")
EDGES = [(node, j) for node in range(STEPS) for j in range(node + 2)]
METHODS = ("blind", "costs", "rules", "told")
QUANTILES = (0.1, 0.25, 0.5, 0.75)


def problem_space() -> tuple[SearchSpace, list[CountConstraint], dict[str, CostTable]]:
    space = SearchSpace([Decision(f"{cell}.edge{i}", list(OPS)) for cell in ("normal", "reduce")
                         for i in range(len(EDGES))])
    rule = []
    for cell in range(2):
        for node in range(STEPS):
            incoming = tuple(cell * len(EDGES) + i for i, (n, _) in enumerate(EDGES) if n == node)
            rule.append(CountConstraint(incoming, tuple((1, 2, 3, 4) for _ in incoming), 2, 2))
    params = np.zeros((space.num_decisions, len(OPS)))
    params[:, 2], params[:, 3] = 1.0, 2.5
    return space, rule, {"params_m": CostTable("params_m", 0.5, params.tolist())}


def truth(seed: int, num_decisions: int) -> tuple[np.ndarray, np.ndarray]:
    """(E, K) additive effects and (E, E, K, K) pairwise terms (upper triangle used)."""
    rng = np.random.default_rng(100 + seed)
    unary = rng.normal(size=(num_decisions, len(OPS)))
    unary[:, 0] -= 0.5
    mask = rng.random((num_decisions, num_decisions)) < 0.15
    pair = rng.normal(size=(num_decisions, num_decisions, len(OPS), len(OPS))) * 0.5 * mask[:, :, None, None]
    return unary, np.triu(pair.transpose(2, 3, 0, 1), 1).transpose(2, 3, 0, 1)


def true_value(unary: np.ndarray, pair: np.ndarray, architecture) -> float:
    a = np.asarray(architecture)
    e = np.arange(len(a))
    return float(unary[e, a].sum() + pair[e[:, None], e[None, :], a[:, None], a[None, :]].sum())


def best_genotypes(space, rule, costs, unary, pair, budgets, seconds: float) -> list[float]:
    """The best true value of a genotype found under each budget in ``seconds`` each (branch and bound)."""
    k = len(OPS)
    offsets = np.arange(space.num_decisions) * k
    flat_pair = np.zeros((space.num_decisions * k,) * 2)
    for i in range(space.num_decisions):
        for j in range(i + 1, space.num_decisions):
            flat_pair[i * k:(i + 1) * k, j * k:(j + 1) * k] = pair[i, j]
    flat_pair = flat_pair + flat_pair.T
    found = [maximise_pairwise(space, unary.ravel(), flat_pair, offsets, costs, [budget], count_constraints=rule,
                               time_limit_s=seconds)[0] for budget in budgets]
    return [true_value(unary, pair, f.architecture) for f in found]


def budgets_of(space, rule, costs) -> list[dict]:
    archs = sample_obeying(space, tuple(rule), np.random.default_rng(0), 4096)
    table = np.array(costs["params_m"].per_candidate)
    spent = costs["params_m"].fixed + table[np.arange(space.num_decisions)[None, :], archs].sum(axis=1)
    return [{}] + [{"params_m": float(np.quantile(spent, q))} for q in QUANTILES]


def job(arguments) -> dict:
    seed, method, rounds, noise, seconds = arguments
    space, rule, costs = problem_space()
    unary, pair = truth(seed, space.num_decisions)
    budgets = budgets_of(space, rule, costs)
    if method == "reference":
        return {"seed": seed, "method": method, "values": best_genotypes(space, rule, costs, unary, pair, budgets,
                                                                         seconds)}
    extra = {"blind": {}, "costs": {"costs": costs}, "rules": {"costs": costs, "count_constraints": rule},
             "told": {"costs": costs, "count_constraints": rule}}[method]
    told = [b for b in budgets if b] if method == "told" else None
    rng = np.random.default_rng(seed)
    started = time.process_time()
    search = DDPSearch(space, config=SearchConfig(seed=seed, rounds_per_stage=rounds, budgets=told),
                       higher_is_better=True, **extra)
    while not search.finished:
        for architecture in search.ask():
            search.tell(architecture, true_value(unary, pair, architecture) + noise * rng.standard_normal())
    answers = search.result().generate(costs, budgets, count_constraints=rule)
    evaluated = np.array([r.architecture for r in search.record.records])
    return {"seed": seed, "method": method, "evaluations": search.steps, "cpu_s": time.process_time() - started,
            "budgets": budgets, "values": [true_value(unary, pair, a.architecture) for a in answers],
            "genotypes_evaluated": int(obeys_all(rule, evaluated, np.ones_like(evaluated, dtype=bool)).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--reference-s", type=float, default=2.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rules_quality.json"))
    args = parser.parse_args()
    jobs = [(seed, method, args.rounds, args.noise, args.reference_s) for seed in range(args.seeds)
            for method in ("reference", *METHODS)]
    with Pool(args.processes) as pool:
        rows = pool.map(job, jobs)
    values = {m: np.array([r["values"] for r in rows if r["method"] == m]) for m in ("reference", *METHODS)}
    best = np.max(np.stack(list(values.values())), axis=0)  # the best known genotype per seed and budget
    regret = {m: best - values[m] for m in METHODS}
    rows = [r for r in rows if r["method"] != "reference"]
    budgets = rows[0]["budgets"]
    print(f"{args.seeds} seeds, T = {args.rounds}, {rows[0]['evaluations']} evaluations, noise sd {args.noise}")
    print("genotypes evaluated per search (mean): " + ", ".join(
        f"{m} {np.mean([r['genotypes_evaluated'] for r in rows if r['method'] == m]):.1f}" for m in METHODS))
    summary = []
    for b, budget in enumerate(budgets):
        label = "no budget" if not budget else f"params_m <= {budget['params_m']:.3g} (q{round(QUANTILES[b - 1] * 100)})"
        cells = {m: (float(regret[m][:, b].mean()), float(np.median(regret[m][:, b]))) for m in METHODS}
        wins = {m: int((regret["rules"][:, b] <= regret[m][:, b] + 1e-9).sum()) for m in METHODS if m != "rules"}
        wins["told vs blind"] = int((regret["told"][:, b] <= regret["blind"][:, b] + 1e-9).sum())
        summary.append({"budget": budget, "label": label, "regret_mean_median": cells, "rules_wins_or_ties": wins})
        print(f"{label:<28}" + "  ".join(f"{m} {cells[m][0]:.2f} / {cells[m][1]:.2f}" for m in METHODS)
              + "   rules at least as good as " + ", ".join(f"{m} {w}/{args.seeds}" for m, w in wins.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": vars(args) | {"out": str(args.out)}, "summary": summary,
                                    "best_known": best.tolist(), "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
