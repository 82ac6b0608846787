#!/usr/bin/env python
"""The search's own cost per evaluation as its records grow: ms of process CPU time per ask/tell.

    python benchmarks/search_cost.py [--spaces darts,mobilenet,wide] [--presets joint,paper,authors,tpe]
                                     [--points 100,1000,10000,50000] [--rounds 2] [--tpe-max 10000]
                                     [--full-run darts:joint:50000] [--threads 1]
                                     [--out benchmarks/results/search_cost.json]

Spaces: ``darts`` (ddp-vision's DARTS cells, 28 decisions x 8 tagged ops), ``mobilenet`` (ddp-vision's
layer-wise space, 21 x 6-7), ``wide`` (100 x 16, synthetic). The objective is trivial (a random number), so
what is timed is the search itself.

How the records get to n: a pruning search whose first stage is long enough (T = n / R + the timed rounds) is
given n records of stage 0, rounds 0, 1, ... (``search.record.add`` and the same counters ``tell`` keeps:
``round``, ``steps``), as if it had asked and been told them; the architectures are uniform draws, all
distinct in these spaces. The steady state is timed, not the first ask after the injection: the default
preset's model is built from the n records first (``build_s``, reported apart) and one round is driven
untimed; then ``--rounds`` whole rounds are driven through ``ask()`` / ``tell()`` and their CPU time divided by
the evaluations (``ask`` and ``tell`` also apart). The default preset refits its model only when the records
grew by ``joint.REFIT_GROWTH``: refits are taken out of the timed rounds and added back amortised over the
records between two refits (``ms_per_evaluation``; ``ms_between_refits`` without them, ``refit_s`` one refit).
``stage_end_s`` is the CPU time of the stage end that follows (update and pruning over every record of the stage: the worst case, a real
run spreads its records over many stages). Optuna's TPE (default TPESampler, seed 0) gets the same n trials
through ``study.add_trials`` and is timed over ``8 * --rounds`` ask/tell pairs; above ``--tpe-max`` records
it is skipped (it takes minutes per point there). ``--full-run SPACE:PRESET:EVALUATIONS`` drives whole searches
(``max_evaluations``: every stage, stage end and refit included) and reports their process CPU seconds.

BLAS/OpenMP threads are set before numpy loads (``--threads``, default 1); the CPU model and the load average
are printed and saved. Results: ``benchmarks/results/search_cost.json``.
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(argv: list[str]) -> int:
    threads = 1
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
        elif arg.startswith("--threads="):
            threads = int(arg.split("=", 1)[1])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[name] = str(threads)
    return threads


THREADS = _set_threads(sys.argv[1:])

import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ddp_core import DDPSearch, Decision, SearchConfig, SearchSpace, joint  # noqa: E402
from ddp_core.sampling import round_size  # noqa: E402


def build_space(name: str) -> SearchSpace:
    if name == "darts":
        from ddp_vision.darts.space import build_search_space

        return build_search_space()
    if name == "mobilenet":
        from ddp_vision.mobilenet.space import mobilenet_space

        return mobilenet_space().search_space()
    if name == "wide":
        return SearchSpace([Decision(f"d{i}", [f"c{k}" for k in range(16)]) for i in range(100)])
    raise SystemExit(f"error: unknown space {name!r}; known: darts, mobilenet, wide")


def random_architectures(space: SearchSpace, count: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    draws = (rng.random((count, space.num_decisions)) * space.sizes).astype(np.int64)
    return [tuple(int(k) for k in row) for row in draws]


def inject(space: SearchSpace, preset: str, n: int, extra_rounds: int, seed: int = 0):
    """A search of one long stage given n records of stage 0 (see the module docstring), and its RNG."""
    size = round_size(space, space.full_mask())
    injected_rounds = -(-n // size)
    config = SearchConfig(utility=preset, rounds_per_stage=injected_rounds + extra_rounds + 1, seed=seed,
                          checkpoint_every=10**9)
    search = DDPSearch(space, config=config, higher_is_better=True)
    rng = np.random.default_rng(seed)
    for i, architecture in enumerate(random_architectures(space, n, rng)):
        search.record.add(0, i // size, architecture, float(rng.random()))
    search.round, search.steps = injected_rounds, n
    return search, rng, size


def drive_round(search: DDPSearch, rng: np.random.Generator) -> tuple[float, float, int]:
    """One whole round through ask() / tell(): (ask CPU s, tell CPU s, evaluations)."""
    started = time.process_time()
    batch = search.ask()
    ask_s = time.process_time() - started
    tell_s = 0.0
    for architecture in batch:
        score = float(rng.random())
        started = time.process_time()
        search.tell(architecture, score)
        tell_s += time.process_time() - started
    return ask_s, tell_s, len(batch)


class FitClock:
    """CPU time and count of the quality model's refits (the default preset), wrapped around the instance: a
    refit is ``fit()`` plus the estimates of every evaluated architecture it invalidates (recomputed on the
    next ``estimates()`` call, which is when they are paid)."""

    def __init__(self, search: DDPSearch) -> None:
        self.seconds, self.count = 0.0, 0
        model = search.model_cache.model
        if model is not None:
            fit, estimates = model.fit, model.estimates

            def timed_fit():
                started = time.process_time()
                try:
                    return fit()
                finally:
                    self.seconds += time.process_time() - started
                    self.count += 1

            def timed_estimates():
                if getattr(model, "_estimates", True) is not None:  # cached: nothing to pay
                    return estimates()
                started = time.process_time()
                try:
                    return estimates()
                finally:
                    self.seconds += time.process_time() - started

            model.fit, model.estimates = timed_fit, timed_estimates


def time_ddpnas(space: SearchSpace, preset: str, n: int, rounds: int, seed: int = 0) -> dict:
    """Steady state after n records: the model is built and one round driven untimed first (the one-time cost
    of building the model from n injected records is reported apart as ``build_s``), then ``rounds`` rounds
    are timed. The default preset refits its model only when the records grew by ``joint.REFIT_GROWTH``, so
    refits are taken out of the timed rounds and added back amortised: their mean CPU time over the records
    between two refits (``records_per_refit``). ``ms_per_evaluation`` is that amortised steady state."""
    search, rng, size = inject(space, preset, n, rounds + 1, seed)
    build_s = 0.0
    if preset == "joint":
        started = time.process_time()
        search.model_cache.get(search.record, force=True)
        build_s = time.process_time() - started
    drive_round(search, rng)  # warm: the first round after the injection is not the steady state
    clock = FitClock(search)
    ask_s = tell_s = 0.0
    evaluations = 0
    for _ in range(rounds):
        a, t, e = drive_round(search, rng)
        ask_s, tell_s, evaluations = ask_s + a, tell_s + t, evaluations + e
    refit_s, refits_timed, refits_timed_s, records_per_refit = 0.0, clock.count, clock.seconds, 0
    if preset == "joint":
        if refits_timed:
            refit_s = refits_timed_s / refits_timed
        else:  # no refit fell in the timed rounds: time one now (new records since the last fit)
            search.model_cache.get(search.record, force=True)
            search.model_cache.model.estimates()
            refit_s = clock.seconds - refits_timed_s
        growth = max(1.0, joint.REFIT_GROWTH * search.model_cache.model.num_records)
        records_per_refit = size * math.ceil(growth / size)  # ModelCache.get checks once per ask
    between = 1e3 * (ask_s + tell_s - refits_timed_s) / evaluations
    amortised = between + (1e3 * refit_s / records_per_refit if records_per_refit else 0.0)
    assert search.stage == 0, "the timed rounds must not reach the stage end"
    search.round = search.stage_rounds  # end the stage now, over every record
    started = time.process_time()
    search._end_stage()
    stage_end_s = time.process_time() - started
    search.close()
    return {"evaluations": evaluations, "ms_per_evaluation": amortised, "ms_between_refits": between,
            "ask_ms_per_evaluation": 1e3 * (ask_s - refits_timed_s) / evaluations, "tell_ms": 1e3 * tell_s / evaluations,
            "refit_s": refit_s, "refits_timed": refits_timed, "records_per_refit": records_per_refit,
            "build_s": build_s, "stage_end_s": stage_end_s}


def full_run(space: SearchSpace, preset: str, evaluations: int, seed: int = 0) -> dict:
    """A whole search of ``evaluations`` (``max_evaluations``, so every stage, its stage ends and the refits
    are in it) driven through ask() / tell() with a random score; process CPU seconds of the whole run."""
    config = SearchConfig(utility=preset, max_evaluations=evaluations, seed=seed, checkpoint_every=10**9)
    rng = np.random.default_rng(seed)
    started = time.process_time()
    search = DDPSearch(space, config=config, higher_is_better=True)
    while not search.finished:
        batch = search.ask()
        if not batch:
            break
        for architecture in batch:
            search.tell(architecture, float(rng.random()))
    cpu_s = time.process_time() - started
    search.close()
    return {"evaluations": search.steps, "stages": search.stage, "rounds_per_stage": search.rounds_per_stage,
            "cpu_s": cpu_s, "ms_per_evaluation": 1e3 * cpu_s / max(search.steps, 1)}


def time_tpe(space: SearchSpace, n: int, evaluations: int, seed: int = 0) -> dict:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {f"d{e}": CategoricalDistribution(list(range(int(s)))) for e, s in enumerate(space.sizes)}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    rng = np.random.default_rng(seed)
    trials = [create_trial(params={f"d{e}": k for e, k in enumerate(a)}, distributions=distributions,
                           value=float(rng.random())) for a in random_architectures(space, n, rng)]
    study.add_trials(trials)
    started = time.process_time()
    for _ in range(evaluations):
        trial = study.ask(distributions)
        study.tell(trial, float(rng.random()))
    return {"evaluations": evaluations, "ms_per_evaluation": 1e3 * (time.process_time() - started) / evaluations}


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "threads": THREADS, "load_average": list(os.getloadavg()),
            "numpy": np.__version__, "python": platform.python_version()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="darts,mobilenet,wide")
    parser.add_argument("--presets", default="joint,paper,authors,tpe")
    parser.add_argument("--points", default="100,1000,10000,50000")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per point (TPE: 8 x this many trials)")
    parser.add_argument("--tpe-max", type=int, default=10_000, help="skip TPE above this many records")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (set before numpy loads)")
    parser.add_argument("--full-run", default="darts:joint:50000",
                        help="SPACE:PRESET:EVALUATIONS whole ask/tell runs, comma-separated ('' for none)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "search_cost.json"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="utility='paper'")  # random scores saturate τ=0.01
    points = [int(p) for p in args.points.split(",")]
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores, threads={THREADS}, load average {info['load_average']}")
    print(f"{'space':>10}{'preset':>9}{'n':>7}{'ms/eval':>10}{'between':>9}{'ask ms':>9}{'tell ms':>9}"
          f"{'refit s':>9}{'build s':>9}{'stage end s':>13}")
    rows, runs = [], []
    for space_name in [s for s in args.spaces.split(",") if s]:
        space = build_space(space_name)
        for preset in args.presets.split(","):
            for n in points:
                if preset == "tpe":
                    if n > args.tpe_max:
                        print(f"{space_name:>10}{preset:>9}{n:>7}   skipped (--tpe-max {args.tpe_max})")
                        continue
                    row = time_tpe(space, n, 8 * args.rounds)
                else:
                    row = time_ddpnas(space, preset, n, args.rounds)
                row = {"space": space_name, "shape": [space.num_decisions, space.max_candidates], "preset": preset,
                       "records": n, **row}
                rows.append(row)
                nan = float("nan")
                print(f"{space_name:>10}{preset:>9}{n:>7}{row['ms_per_evaluation']:>10.3f}"
                      f"{row.get('ms_between_refits', nan):>9.3f}{row.get('ask_ms_per_evaluation', nan):>9.3f}"
                      f"{row.get('tell_ms', nan):>9.3f}{row.get('refit_s', nan):>9.3f}{row.get('build_s', nan):>9.3f}"
                      f"{row.get('stage_end_s', nan):>13.3f}", flush=True)
    for spec in [s for s in args.full_run.split(",") if s]:
        space_name, preset, evaluations = spec.split(":")
        space = build_space(space_name)
        run = {"space": space_name, "shape": [space.num_decisions, space.max_candidates], "preset": preset,
               **full_run(space, preset, int(evaluations))}
        runs.append(run)
        print(f"# full run {space_name} {preset}: {run['evaluations']} evaluations in {run['stages']} stages "
              f"(T={run['rounds_per_stage']}): {run['cpu_s']:.1f} CPU s, {run['ms_per_evaluation']:.3f} ms per "
              "evaluation", flush=True)
    info["load_average_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "rows": rows, "full_runs": runs}, indent=1) + "\n")
    print(f"# load average at the end {info['load_average_end']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
