"""The NAS-Bench-Macro generator prints the recommended network per budget (issue 15, "One answer in the tools").

A search with fixed pseudo-random scores (no table needed), then ``tools/generate.py``'s generator in process:
by default its answer per budget is exactly ``SearchResult.generate`` of the same search (the joint preset's
model ENG), with a ``how`` line; ``--eng theta`` is Eq. 10 on θ; the alternatives are kept in generated.json.
"""

from __future__ import annotations

import json
import zlib

from ddp_core import DDPSearch, SearchConfig, generate, load_run
from ddp_core.tabular import generate_cli, macro_space
from ddp_core.tabular_generate import macro_costs_m

REQUESTS = [{"params_m": 0.5}, {"flops_m": 40.0}, {"params_m": 1e-6}]
FLAGS = ["--budget", "params_m=0.5", "--budget", "flops_m=40", "--budget", "params_m=1e-6"]


class HashScores:
    higher_is_better = True

    def train(self, architecture) -> None:
        pass

    def score(self, architecture) -> float:
        return zlib.crc32(repr([int(k) for k in architecture]).encode()) % 1000 / 1000


def test_the_generator_answers_with_the_searchs_recommended_network(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = DDPSearch(macro_space(), HashScores(), SearchConfig(rounds_per_stage=2), run_dir=run_dir).run()
    costs = macro_costs_m()
    expected = result.generate(costs, REQUESTS)
    loaded = load_run(run_dir).generate(costs, REQUESTS)  # the same ENG from the run directory alone
    assert [getattr(a, "architecture", None) for a in loaded] == [getattr(a, "architecture", None) for a in expected]
    assert [getattr(a, "how", None) for a in loaded] == [getattr(a, "how", None) for a in expected]
    assert generate_cli(run_dir, FLAGS) == 0
    out = capsys.readouterr().out
    entries = json.loads((run_dir / "generated.json").read_text())
    for entry, answer in zip(entries[:2], expected[:2], strict=True):
        assert entry["architecture"] == list(answer.architecture) and entry["how"] == answer.how
        assert entry["source"] in ("model", "evaluated") and f"how: {answer.how}" in out
        assert {"theta", "best_evaluated"} <= set(entry["alternatives"])
    assert entries[2]["infeasible"] and "smallest achievable params_m" in entries[2]["message"]
    theta = generate(result.space, result.distribution, costs, REQUESTS, live_only=False, on_infeasible="report")
    assert [e["alternatives"]["theta"]["architecture"] for e in entries[:2]] == [list(a.architecture) for a in theta[:2]]
    assert generate_cli(run_dir, [*FLAGS, "--eng", "theta"]) == 0
    entries = json.loads((run_dir / "generated.json").read_text())
    assert [e["architecture"] for e in entries[:2]] == [list(a.architecture) for a in theta[:2]]
    assert all(e["source"] == "theta" and e["how"].startswith("Eq. 10") for e in entries[:2])
